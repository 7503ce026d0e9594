"""Functions generated SQL may call, per dialect: the guard's allow-lists, as data.

Grouped by the chapters of each database's function reference (DuckDB "Functions" pages;
PostgreSQL manual chapter 9, "Functions and Operators"). Only functions that compute a value from
their arguments are listed: nothing that reads or writes files, settings, sessions, sequences,
locks, the system catalog or server state, nothing that sleeps, and nothing that takes SQL text
(``query``, ``json_serialize_sql``, ``ts_stat``, ``ts_rewrite``, ``query_to_xml``, ``dblink`` ...).
Every other function, including any user-defined one, is refused by name; a user who vouches for
their own pure functions adds them with ``GuardPolicy(functions=...)``.

``tests/test_guard.py`` checks that every DuckDB name exists in ``duckdb_functions()`` and every
PostgreSQL name in ``pg_proc`` (names under ``syntax`` are grammar, not catalog entries).
"""

from __future__ import annotations

from functools import lru_cache


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


DUCKDB: dict[str, frozenset[str]] = {
    "aggregate": _names("""
        any_value approx_count_distinct approx_quantile approx_top_k arbitrary arg_max arg_max_null
        arg_max_nulls_last arg_min arg_min_null arg_min_nulls_last argmax argmin array_agg avg bit_and
        bit_or bit_xor bitstring_agg bool_and bool_or corr count count_if count_star countif covar_pop
        covar_samp entropy favg first fsum geomean geometric_mean group_concat histogram
        histogram_exact kahan_sum kurtosis kurtosis_pop last list listagg mad max max_by mean median
        min min_by mode product quantile quantile_cont quantile_disc regr_avgx regr_avgy regr_count
        regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy reservoir_quantile sem skewness
        stddev stddev_pop stddev_samp string_agg sum sumkahan var_pop var_samp variance wavg
        weighted_avg json_group_array json_group_object json_group_structure
    """),
    "window": _names("""
        cume_dist dense_rank fill first_value lag last_value lead nth_value ntile percent_rank rank
        rank_dense row_number
    """),
    "math": _names("""
        abs acos acosh add asin asinh atan atan2 atanh bit_count cbrt ceil ceiling cos cosh cot
        degrees divide even exp factorial fdiv fmod floor gamma gcd greatest_common_divisor isfinite
        isinf isnan lcm least_common_multiple lgamma ln log log10 log2 mod multiply nextafter pi pow
        power radians random round round_even roundbankers sign signbit sin sinh sqrt subtract tan
        tanh trunc xor equi_width_bins bar
    """),
    "conditional": _names("greatest least nullif if typeof"),
    "string": _names("""
        ascii bit_length char_length character_length chr concat concat_ws contains
        damerau_levenshtein editdist3 ends_with format formatReadableDecimalSize formatReadableSize
        format_bytes hamming instr jaccard jaro_similarity jaro_winkler_similarity lcase left
        left_grapheme len length length_grapheme levenshtein like_escape ilike_escape not_like_escape
        not_ilike_escape lower lpad ltrim mismatches nfc_normalize octet_length ord parse_dirname
        parse_dirpath parse_filename parse_path parse_formatted_bytes path_join position prefix printf
        repeat replace reverse right right_grapheme rpad rtrim split split_part starts_with str_split
        string_split string_to_array strip_accents strlen strpos substr substring substring_grapheme
        suffix translate trim ucase unicode upper url_decode url_encode
    """),
    "regex": _names("""
        regexp_escape regexp_extract regexp_extract_all regexp_full_match regexp_matches
        regexp_replace regexp_split_to_array regexp_split_to_table str_split_regex string_split_regex
    """),
    "date_time": _names("""
        age ago century current_date current_localtime current_localtimestamp date_add date_diff
        date_part date_sub date_trunc datediff datepart datesub datetrunc day dayname dayofmonth
        dayofweek dayofyear days_in_month decade epoch epoch_ms epoch_ns epoch_us era
        get_current_time get_current_timestamp hour isodow isoyear julian last_day make_date
        make_time make_timestamp make_timestamp_ms make_timestamp_ns make_timestamptz microsecond
        millennium millisecond minute month monthname nanosecond normalized_interval now quarter
        second strftime strptime time_bucket timezone timezone_hour timezone_minute to_centuries
        to_days to_decades to_hours to_microseconds to_millennia to_milliseconds to_minutes
        to_months to_quarters to_seconds to_timestamp to_weeks to_years today transaction_timestamp
        try_strptime week weekday weekofyear year yearweek
    """),
    "list": _names("""
        aggregate apply array_aggr array_aggregate array_append array_apply array_cat array_concat
        array_contains array_cosine_distance array_cosine_similarity array_cross_product
        array_distance array_distinct array_dot_product array_extract array_filter array_grade_up
        array_has array_has_all array_has_any array_indexof array_inner_product array_intersect
        array_length array_negative_dot_product array_negative_inner_product array_pop_back
        array_pop_front array_position array_prepend array_push_back array_push_front array_reduce
        array_resize array_reverse array_reverse_sort array_select array_slice array_sort
        array_to_string array_transform array_unique array_value array_where array_zip filter
        flatten generate_series grade_up list_aggr list_aggregate list_any_value list_append
        list_apply list_approx_count_distinct list_avg list_bit_and list_bit_or list_bit_xor
        list_bool_and list_bool_or list_cat list_concat list_contains list_cosine_distance
        list_cosine_similarity list_count list_distance list_distinct list_dot_product list_element
        list_entropy list_extract list_filter list_first list_grade_up list_has list_has_all
        list_has_any list_histogram list_indexof list_inner_product list_intersect list_kurtosis
        list_kurtosis_pop list_last list_mad list_max list_median list_min list_mode
        list_negative_dot_product list_negative_inner_product list_pack list_position list_prepend
        list_product list_reduce list_resize list_reverse list_reverse_sort list_select list_sem
        list_skewness list_slice list_sort list_stddev_pop list_stddev_samp list_string_agg list_sum
        list_transform list_unique list_value list_var_pop list_var_samp list_where list_zip range
        reduce unnest
    """),
    "struct_map_union": _names("""
        cardinality element_at map map_concat map_contains map_contains_entry map_contains_value
        map_entries map_extract map_extract_value map_from_entries map_keys map_values row
        struct_concat struct_contains struct_extract struct_extract_at struct_has struct_indexof
        struct_insert struct_keys struct_pack struct_position struct_update struct_values
        union_extract union_tag union_value
    """),
    "json": _names("""
        json json_array json_array_length json_contains json_exists json_extract json_extract_path
        json_extract_path_text json_extract_string json_keys json_merge_patch json_object
        json_pretty json_quote json_structure json_transform json_transform_strict json_type
        json_valid json_value to_json from_json from_json_strict array_to_json row_to_json
    """),
    "blob_bit_hash_uuid_enum": _names("""
        base64 to_base64 from_base64 encode decode hex unhex to_hex from_hex bin unbin to_binary
        from_binary to_base get_bit set_bit bit_position bitstring md5 md5_number md5_number_lower
        md5_number_upper sha1 sha256 hash gen_random_uuid uuid uuidv4 uuidv7 uuid_extract_timestamp
        uuid_extract_version enum_code enum_first enum_last enum_range enum_range_boundary
    """),
    # Written as grammar (sqlglot parses them into typed nodes), not listed in duckdb_functions().
    "syntax": _names("""
        coalesce ifnull grouping grouping_id percentile_cont percentile_disc cast try_cast extract
        current_time current_timestamp localtime localtimestamp columns exists
    """),
}

POSTGRES: dict[str, frozenset[str]] = {
    "aggregate": _names("""
        array_agg avg bit_and bit_or bit_xor bool_and bool_or count every max min range_agg
        range_intersect_agg string_agg sum json_agg jsonb_agg json_object_agg jsonb_object_agg corr
        covar_pop covar_samp regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope
        regr_sxx regr_sxy regr_syy stddev stddev_pop stddev_samp variance var_pop var_samp mode
        percentile_cont percentile_disc
    """),
    "window": _names("""
        row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
        nth_value
    """),
    "math": _names("""
        abs cbrt ceil ceiling degrees div exp factorial floor gcd lcm ln log log10 min_scale mod pi
        power radians round scale sign sqrt trim_scale trunc width_bucket random acos acosd asin
        asind atan atan2 atan2d atand cos cosd cot cotd sin sind tan tand sinh cosh tanh asinh acosh
        atanh
    """),
    "string": _names("""
        ascii bit_length btrim char_length character_length chr concat concat_ws format initcap left
        length lower lpad ltrim md5 normalize octet_length overlay position quote_ident
        quote_literal quote_nullable repeat replace reverse right rpad rtrim split_part starts_with
        string_to_array string_to_table strpos substr substring to_ascii to_hex translate btrim upper
        encode decode sha224 sha256 sha384 sha512 get_bit get_byte set_bit set_byte convert_from
        convert_to
    """),
    "regex": _names("""
        regexp_count regexp_instr regexp_like regexp_match regexp_matches regexp_replace
        regexp_split_to_array regexp_split_to_table regexp_substr
    """),
    "formatting": _names("to_char to_date to_number to_timestamp"),
    "date_time": _names("""
        age clock_timestamp date_bin date_part date_trunc isfinite justify_days justify_hours
        justify_interval make_date make_interval make_time make_timestamp make_timestamptz now
        statement_timestamp timeofday transaction_timestamp timezone
    """),
    "conditional": _names("num_nulls num_nonnulls"),
    "array": _names("""
        array_append array_cat array_dims array_fill array_length array_lower array_ndims
        array_position array_positions array_prepend array_remove array_replace array_to_string
        array_upper cardinality trim_array unnest generate_subscripts generate_series
    """),
    "range": _names("""
        lower upper isempty lower_inc upper_inc lower_inf upper_inf range_merge int4range int8range
        numrange tsrange tstzrange daterange
    """),
    "json": _names("""
        to_json to_jsonb array_to_json row_to_json json_build_array jsonb_build_array
        json_build_object jsonb_build_object json_object jsonb_object json_array_elements
        jsonb_array_elements json_array_elements_text jsonb_array_elements_text json_array_length
        jsonb_array_length json_each jsonb_each json_each_text jsonb_each_text json_extract_path
        jsonb_extract_path json_extract_path_text jsonb_extract_path_text json_object_keys
        jsonb_object_keys json_strip_nulls jsonb_strip_nulls jsonb_set jsonb_insert jsonb_pretty
        json_typeof jsonb_typeof jsonb_path_exists jsonb_path_match jsonb_path_query
        jsonb_path_query_array jsonb_path_query_first
    """),
    "text_search": _names("""
        to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank
        ts_rank_cd ts_headline setweight numnode
    """),
    "uuid_enum": _names("gen_random_uuid enum_first enum_last enum_range"),
    # Grammar (SQL-standard forms, parsed into typed nodes), not looked up by name in pg_proc.
    "syntax": _names("""
        coalesce nullif greatest least grouping cast extract current_date current_time
        current_timestamp localtime localtimestamp exists row
    """),
}

# Other SQLAlchemy dialects (MySQL/MariaDB, SQLite, SQL Server, ...): common, side-effect-free
# functions only; a user adds their dialect's others through GuardPolicy(functions=...).
GENERIC: dict[str, frozenset[str]] = {
    "aggregate": _names("count sum avg min max group_concat string_agg stddev stddev_pop stddev_samp variance var_pop var_samp"),
    "window": _names("row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value"),
    "math": _names("abs ceil ceiling floor round trunc truncate sign sqrt power pow exp ln log log10 log2 mod pi degrees radians sin cos tan asin acos atan atan2"),
    "string": _names("""
        lower upper lcase ucase length char_length character_length octet_length substr substring
        trim ltrim rtrim replace concat concat_ws left right lpad rpad reverse instr position strpos
        locate repeat split_part format printf hex
    """),
    "date_time": _names("""
        date time datetime timestamp julianday strftime date_format date_add date_sub datediff
        date_trunc date_part year month day dayofweek dayofmonth dayofyear hour minute second
        quarter week weekday last_day now to_char to_date makedate
    """),
    "conditional": _names("coalesce nullif ifnull isnull nvl iif if greatest least"),
    "syntax": _names("cast extract current_date current_time current_timestamp exists grouping"),
}

# Functions that may stand in FROM (table-valued): pure generators only.
TABLE_FUNCTIONS: dict[str, frozenset[str]] = {
    "duckdb": _names("range generate_series unnest json_each json_tree"),
    "postgres": _names("""
        generate_series generate_subscripts unnest json_each jsonb_each json_each_text jsonb_each_text
        json_array_elements jsonb_array_elements json_array_elements_text jsonb_array_elements_text
        regexp_matches regexp_split_to_table string_to_table jsonb_path_query
    """),
    "generic": _names("unnest generate_series"),
}

_BY_DIALECT = {"duckdb": DUCKDB, "postgres": POSTGRES}


@lru_cache(maxsize=None)
def allowed_functions(dialect: str) -> frozenset[str]:
    """Every function name (lower case) generated SQL may call in `dialect`."""
    groups = _BY_DIALECT.get(dialect, GENERIC)
    return frozenset(name.lower() for group in groups.values() for name in group)


def allowed_table_functions(dialect: str) -> frozenset[str]:
    return TABLE_FUNCTIONS.get(dialect, TABLE_FUNCTIONS["generic"])


def catalog_names(dialect: str) -> frozenset[str]:
    """Names (lower case) of the listed functions that are real catalog entries (not grammar)."""
    groups = _BY_DIALECT.get(dialect, GENERIC)
    return frozenset(n.lower() for key, group in groups.items() if key != "syntax" for n in group)
