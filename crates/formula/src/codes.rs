//! The stable codes of formula errors, and the macro that declares a set of codes.

/// Declares an enum of stable error codes: each variant with its code (the text users match
/// on) and a one-line description, and `ALL` listing them, so the set of codes is a type the
/// compiler checks and the list users read is made from it.
#[macro_export]
macro_rules! error_codes {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($variant:ident = $code:literal: $description:literal,)*
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $(#[doc = $description] $variant,)*
        }

        impl $name {
            /// Every code of the set, in the order declared.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable code (`err.code` in Python).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            /// What the code means, in one line.
            pub const fn description(self) -> &'static str {
                match self {
                    $($name::$variant => $description,)*
                }
            }
        }
    };
}

error_codes! {
    /// Why a formula does not parse or check (a `DefinitionError` in Python).
    pub enum FormulaCode {
        EmptyFormula = "empty_formula": "a formula is empty or only spaces",
        SyntaxError = "syntax_error": "a formula does not parse: a stray character, an unclosed parenthesis or a missing operand",
        TooLong = "too_long": "a formula is longer than 10,000 bytes",
        TooDeep = "too_deep": "a formula nests parentheses and calls more than 64 deep, or is more than 128 levels tall with the KPIs it names written out",
        TooLarge = "too_large": "a formula, with the KPIs it names written out, has more than 4,096 values, names and operators",
        UnknownName = "unknown_name": "a formula names a column or KPI that none of the tables or definitions has",
        UnknownFunction = "unknown_function": "a formula calls a function the formula language does not have",
        WrongArguments = "wrong_arguments": "a function is called with the wrong number or kind of arguments",
        MisplacedFilter = "misplaced_filter": "a where filter is given to a function that takes none",
        MixedAggregate = "mixed_aggregate": "a KPI-level value (an aggregate or a KPI) appears inside a per-post expression",
        NotACondition = "not_a_condition": "a where filter holds a value that is not a condition",
        TextComparison = "text_comparison": "text is compared with an ordering operator (<, >, ...) instead of == or !=",
        TypeMismatch = "type_mismatch": "text is compared with a number",
        ConditionOutsideFilter = "condition_outside_filter": "a condition (a comparison, true/false, not) appears outside a where filter",
        TextInArithmetic = "text_in_arithmetic": "a text literal is used in arithmetic",
        SnapshotColumn = "snapshot_column": "a formula reads 'followers', a daily snapshot, as a sum: use last(), first() or followers_at_post",
        MisplacedFollowersAtPost = "misplaced_followers_at_post": "followers_at_post is used other than as the divisor of a sum of post values",
        CircularReference = "circular_reference": "a KPI refers back to itself through the KPIs it names",
        UnsupportedColumn = "unsupported_column": "a formula reads a column of the accounts table where only posts columns can be read",
        NotNumeric = "not_numeric": "a formula does arithmetic on a column that holds text",
        MissingColumn = "missing_column": "a KPI reads a column of its own name that no table given has",
    }
}
