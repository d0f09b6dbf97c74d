//! The `cometbft` vector formats (see `shared/vectors/cometbft/README.md`),
//! recognised by their shape:
//!
//! - a light-client trace (`{initial, input[]}`), or a list of them
//!   (`{cases: [...]}`): each input's verdict (`SUCCESS`, `INVALID`,
//!   `NOT_ENOUGH_TRUST`) must be the expected one; a `SUCCESS` moves the
//!   trusted state to that block;
//! - encoding vectors (`vote_sign_bytes`, `header_hash`,
//!   `validator_set_hash`): each computed value must be the expected one;
//! - JSON-RPC responses of a node: `blockchain` (each header hashes to its
//!   block id), `block` and `commit` (the header hash, the validator set from
//!   the `genesis.json` beside them, and the commit signatures), `genesis`
//!   and `status` (validator addresses derive from their keys).

use super::Case;
use chain_verify::cometbft::json::{self as json, JsonError, Value};
use chain_verify::cometbft::{
    verifier, verify, BlockIdFlag, Commit, Header, LightBlock, Options, SignedHeader, Time,
    TrustThreshold, TrustedState, ValidatorSet, VerificationError, Vote,
};
use std::path::Path;

/// The verdict every check of a real response must reach.
const VALID: &str = "valid";

/// The cases of `text` if it is a file of one of these formats.
pub fn read(path: &Path, text: &str) -> Option<Result<Vec<Case>, String>> {
    let value = json::parse(text)?;
    if is_trace(&value) {
        return Some(trace_cases(&value, ""));
    }
    if let Some(cases) = value.get("cases").and_then(Value::as_array) {
        if !cases.is_empty() && cases.iter().all(is_trace) {
            return Some(light_cases(cases));
        }
        return None;
    }
    if ["vote_sign_bytes", "header_hash", "validator_set_hash"]
        .iter()
        .any(|name| value.get(name).is_some())
    {
        return Some(encoding_cases(&value));
    }
    if value.get("jsonrpc").is_some() {
        let result = value.get("result")?;
        return rpc_cases(path, result);
    }
    None
}

/// Whether `value` is a single-step trace.
fn is_trace(value: &Value) -> bool {
    value.get("initial").is_some() && value.get("input").is_some_and(Value::is_array)
}

/// Words for a JSON error.
fn describe(error: JsonError) -> String {
    match error {
        JsonError::Missing(name) => format!("missing field `{name}`"),
        JsonError::Invalid(name) => format!("malformed field `{name}`"),
    }
}

/// An integer from a number or a string of digits, as `u64`.
fn unsigned(value: &Value, name: &'static str) -> Result<u64, String> {
    let number = json::integer(value, name).map_err(describe)?;
    u64::try_from(number).map_err(|_| format!("`{name}` is negative or too large"))
}

/// The time in member `name`.
fn time_member(value: &Value, name: &'static str) -> Result<Time, String> {
    let field = value.get(name).ok_or_else(|| format!("missing field `{name}`"))?;
    json::time(field, name).map_err(describe)
}

/// The verdict's name as the traces write it.
fn verdict(result: &Result<(), VerificationError>) -> &'static str {
    match result {
        Ok(()) => "SUCCESS",
        Err(error) if error.is_not_enough_trust() => "NOT_ENOUGH_TRUST",
        Err(_) => "INVALID",
    }
}

/// Runs one trace; each input is a case named `PREFIXinput N`.
fn trace_cases(trace: &Value, prefix: &str) -> Result<Vec<Case>, String> {
    let initial = trace.get("initial").ok_or("missing field `initial`")?;
    let signed_header =
        initial.get("signed_header").ok_or("missing field `initial.signed_header`")?;
    let header = json::header(signed_header.get("header").ok_or("missing field `header`")?)
        .map_err(|error| format!("initial header: {}", describe(error)))?;
    let next_validators = json::validator_set(
        initial.get("next_validator_set").ok_or("missing field `initial.next_validator_set`")?,
    )
    .map_err(|error| format!("initial next_validator_set: {}", describe(error)))?;
    let trusting_period_nanos = unsigned(
        initial.get("trusting_period").ok_or("missing field `trusting_period`")?,
        "trusting_period",
    )?;
    let options = trace_options(trace.get("options"), trusting_period_nanos)?;
    let mut trusted = TrustedState { header, next_validators };
    let inputs = trace.get("input").and_then(Value::as_array).ok_or("`input` is not a list")?;
    let mut cases = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let name = format!("{prefix}input {index}");
        let expected = input
            .get("verdict")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{name}: missing field `verdict`"))?;
        let now = time_member(input, "now").map_err(|error| format!("{name}: {error}"))?;
        let block = input.get("block").ok_or_else(|| format!("{name}: missing field `block`"))?;
        // A block that cannot even be read is an invalid block.
        let (result, block) = match json::light_block(block) {
            Ok(block) => (verify(&trusted, &block, &options, now), Some(block)),
            Err(_) => (Err(VerificationError::MalformedSignature), None),
        };
        let got = verdict(&result);
        if let (Ok(()), Some(block)) = (&result, &block) {
            trusted = TrustedState::from_block(block);
        }
        let shown = match result {
            Err(error) if got != expected => format!("{got} ({error:?})"),
            _ => got.to_string(),
        };
        cases.push(Case::compare(name, expected, shown));
    }
    Ok(cases)
}

/// The options a trace states, or the defaults (threshold 1/3, no drift).
fn trace_options(options: Option<&Value>, trusting_period_nanos: u64) -> Result<Options, String> {
    let mut result = Options {
        trust_threshold: TrustThreshold::ONE_THIRD,
        trusting_period_nanos,
        clock_drift_nanos: 0,
    };
    let Some(options) = options.filter(|options| !options.is_null()) else {
        return Ok(result);
    };
    if let Some(threshold) = options.get("trust_threshold") {
        let numerator =
            unsigned(threshold.get("numerator").ok_or("missing `numerator`")?, "numerator")?;
        let denominator =
            unsigned(threshold.get("denominator").ok_or("missing `denominator`")?, "denominator")?;
        result.trust_threshold = TrustThreshold::new(numerator, denominator)
            .ok_or("the trust threshold is not between 1/3 and 1")?;
    }
    if let Some(drift) = options.get("clock_drift") {
        result.clock_drift_nanos = unsigned(drift, "clock_drift")?;
    }
    Ok(result)
}

/// Runs each trace of a `{cases: [...]}` file.
fn light_cases(traces: &[Value]) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for (index, trace) in traces.iter().enumerate() {
        let label = trace.get("description").and_then(Value::as_str).unwrap_or("");
        let prefix = format!("case {index} ({label}) ");
        cases
            .extend(trace_cases(trace, &prefix).map_err(|error| format!("case {index}: {error}"))?);
    }
    Ok(cases)
}

/// Upper-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02X}")).collect()
}

/// Checks computed `got` hex against `expected` hex, case-insensitively.
fn compare_hex(name: String, expected: &str, got: &[u8]) -> Case {
    let got = hex(got);
    if got.eq_ignore_ascii_case(expected) {
        Case::compare(name, expected, expected)
    } else {
        Case::compare(name, expected, got)
    }
}

/// The encoding vectors: sign bytes (and their signatures), header hashes,
/// validator-set hashes.
fn encoding_cases(value: &Value) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    let list = |name: &str| value.get(name).and_then(Value::as_array).cloned().unwrap_or_default();
    for (index, vector) in list("vote_sign_bytes").iter().enumerate() {
        let name = format!("vote_sign_bytes {index}");
        let vote = Vote {
            message_type: u32::try_from(unsigned(
                vector.get("type").ok_or("missing `type`")?,
                "type",
            )?)
            .map_err(|_| format!("{name}: `type` is too large"))?,
            height: json::integer(vector.get("height").ok_or("missing `height`")?, "height")
                .map_err(describe)? as i64,
            round: json::integer(vector.get("round").ok_or("missing `round`")?, "round")
                .map_err(describe)? as i64,
            block_id: match vector.get("block_id") {
                None | Some(Value::Null) => None,
                Some(id) => Some(json::block_id(id).map_err(describe)?),
            },
            timestamp: time_member(vector, "timestamp")?,
            chain_id: vector.get("chain_id").and_then(Value::as_str).unwrap_or("").to_string(),
        };
        let expected = vector
            .get("expected_sign_bytes")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{name}: missing `expected_sign_bytes`"))?;
        let sign_bytes = vote.sign_bytes();
        cases.push(compare_hex(format!("{name} sign bytes"), expected, &sign_bytes));
        if let (Some(key), Some(signature)) = (
            vector.get("ed25519_pubkey_base64").and_then(Value::as_str),
            vector.get("signature_base64").and_then(Value::as_str),
        ) {
            let expected_valid =
                vector.get("signature_valid").and_then(Value::as_bool).unwrap_or(true);
            let key = json::base64(key, "ed25519_pubkey_base64").map_err(describe)?;
            let signature = json::base64(signature, "signature_base64").map_err(describe)?;
            let message = json::hex(expected, "expected_sign_bytes").map_err(describe)?;
            let valid = ed25519_valid(&key, &message, &signature);
            cases.push(Case::compare(
                format!("{name} signature"),
                expected_valid.to_string(),
                valid.to_string(),
            ));
        }
    }
    for (index, vector) in list("header_hash").iter().enumerate() {
        let header =
            json::header(vector.get("header").ok_or("missing `header`")?).map_err(describe)?;
        let expected =
            vector.get("expected_hash").and_then(Value::as_str).ok_or("missing `expected_hash`")?;
        cases.push(compare_hex(format!("header_hash {index}"), expected, &header.hash()));
    }
    for (index, vector) in list("validator_set_hash").iter().enumerate() {
        let set = json::validator_set(vector.get("validators").ok_or("missing `validators`")?)
            .map_err(describe)?;
        let expected =
            vector.get("expected_hash").and_then(Value::as_str).ok_or("missing `expected_hash`")?;
        cases.push(compare_hex(format!("validator_set_hash {index}"), expected, &set.hash()));
    }
    Ok(cases)
}

/// Whether `signature` is a valid ed25519 signature of `message` by `key`
/// (strict verification, as the light client checks commits).
fn ed25519_valid(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    <[u8; 32]>::try_from(key)
        .is_ok_and(|key| verifier::verify_signature(&key, message, signature).is_ok())
}

/// The cases of a node's JSON-RPC `result`, by what it holds.
fn rpc_cases(path: &Path, result: &Value) -> Option<Result<Vec<Case>, String>> {
    if let Some(genesis) = result.get("genesis") {
        return Some(genesis_cases(genesis));
    }
    if let Some(metas) = result.get("block_metas") {
        return Some(blockchain_cases(metas));
    }
    if let (Some(block), Some(block_id)) = (result.get("block"), result.get("block_id")) {
        return Some(block_cases(path, block, block_id));
    }
    if let Some(signed_header) = result.get("signed_header") {
        return Some(commit_cases(path, signed_header));
    }
    if let Some(validator) = result.get("validator_info") {
        return Some(status_cases(validator));
    }
    None
}

/// A case that passes when `check` gives `Ok`.
fn check_case(name: &str, check: Result<(), String>) -> Case {
    match check {
        Ok(()) => Case::compare(name, VALID, VALID),
        Err(reason) => Case::compare(name, VALID, reason),
    }
}

/// Whether each validator's stated address derives from its key.
fn addresses_derive(validators: &Value) -> Result<(), String> {
    let set = json::validator_set(validators).map_err(describe)?;
    for validator in &set.validators {
        if validator.address != chain_verify::cometbft::types::address_of(&validator.public_key) {
            return Err(format!("address {} is not derived from its key", hex(&validator.address)));
        }
    }
    Ok(())
}

/// `genesis.json`: the validators' addresses derive from their keys (the
/// set itself is checked against the headers beside it).
fn genesis_cases(genesis: &Value) -> Result<Vec<Case>, String> {
    let validators = genesis.get("validators").ok_or("genesis has no `validators`")?;
    Ok(vec![check_case("genesis validator addresses", addresses_derive(validators))])
}

/// `status.json`: the node's validator address derives from its key.
fn status_cases(validator: &Value) -> Result<Vec<Case>, String> {
    let list = Value::Array(vec![validator.clone()]);
    Ok(vec![check_case("status validator address", addresses_derive(&list))])
}

/// Whether `header` hashes to `block_id`'s hash.
fn header_matches(header: &Header, block_id: &Value) -> Result<(), String> {
    let id = json::block_id(block_id).map_err(describe)?;
    if header.hash().as_slice() == id.hash {
        Ok(())
    } else {
        Err(format!("header hash {} is not {}", hex(&header.hash()), hex(&id.hash)))
    }
}

/// `blockchain`: every header hashes to its block id.
fn blockchain_cases(metas: &Value) -> Result<Vec<Case>, String> {
    let metas = metas.as_array().ok_or("`block_metas` is not a list")?;
    let mut cases = Vec::new();
    for meta in metas {
        let header = json::header(meta.get("header").ok_or("a block meta has no header")?)
            .map_err(describe)?;
        let block_id = meta.get("block_id").ok_or("a block meta has no block_id")?;
        cases.push(check_case(
            &format!("height {} header hash", header.height),
            header_matches(&header, block_id),
        ));
    }
    Ok(cases)
}

/// The validator set of the `genesis.json` beside `path`.
fn genesis_validators(path: &Path) -> Result<ValidatorSet, String> {
    let genesis_path = path.with_file_name("genesis.json");
    let text = std::fs::read_to_string(&genesis_path)
        .map_err(|error| format!("cannot read {}: {error}", genesis_path.display()))?;
    let value = json::parse(&text).ok_or("genesis.json is not JSON")?;
    let validators = value
        .get("result")
        .and_then(|result| result.get("genesis"))
        .and_then(|genesis| genesis.get("validators"))
        .ok_or("genesis.json has no result.genesis.validators")?;
    json::validator_set(validators).map_err(describe)
}

/// Whether `set` hashes to the header's `validators_hash`.
fn validators_match(header: &Header, set: &ValidatorSet) -> Result<(), String> {
    if set.hash().as_slice() == header.validators_hash {
        Ok(())
    } else {
        Err(format!(
            "validator set hash {} is not {}",
            hex(&set.hash()),
            hex(&header.validators_hash)
        ))
    }
}

/// Whether `commit`'s signatures by `set` verify and pass 2/3 of its power.
fn commit_verifies(chain_id: &str, commit: Commit, set: &ValidatorSet) -> Result<(), String> {
    if commit.signatures.iter().all(|signature| signature.flag == BlockIdFlag::Absent) {
        return Err("the commit has no signatures".into());
    }
    let header = Header { chain_id: chain_id.to_string(), ..Header::default() };
    let block = LightBlock {
        signed_header: SignedHeader { header, commit },
        validators: set.clone(),
        next_validators: set.clone(),
    };
    let signed = verifier::signed_power(&block, set).map_err(|error| format!("{error:?}"))?;
    let total = set.total_voting_power().ok_or("voting power overflows")?;
    if TrustThreshold::TWO_THIRDS.is_passed_by(signed, total) {
        Ok(())
    } else {
        Err(format!("{signed} of {total} voting power signed"))
    }
}

/// `block`: the header hash, its validators, and the signatures of its
/// `last_commit` (for the block before it).
fn block_cases(path: &Path, block: &Value, block_id: &Value) -> Result<Vec<Case>, String> {
    let header =
        json::header(block.get("header").ok_or("the block has no header")?).map_err(describe)?;
    let set = genesis_validators(path)?;
    let height = header.height;
    let mut cases = vec![
        check_case(&format!("height {height} header hash"), header_matches(&header, block_id)),
        check_case(&format!("height {height} validators hash"), validators_match(&header, &set)),
    ];
    let last_commit = json::commit(block.get("last_commit").ok_or("the block has no last_commit")?)
        .map_err(describe)?;
    if last_commit.height > 0 {
        let name = format!("height {} commit signatures", last_commit.height);
        let check = if last_commit.block_id != header.last_block_id {
            Err("last_commit is not for the header's last_block_id".to_string())
        } else {
            commit_verifies(&header.chain_id, last_commit, &set)
        };
        cases.push(check_case(&name, check));
    }
    Ok(cases)
}

/// `commit`: the signed header's hash, its validators and its signatures.
fn commit_cases(path: &Path, signed_header: &Value) -> Result<Vec<Case>, String> {
    let signed = json::signed_header(signed_header).map_err(describe)?;
    let set = genesis_validators(path)?;
    let height = signed.header.height;
    let hash_check = if signed.header.hash().as_slice() == signed.commit.block_id.hash {
        Ok(())
    } else {
        Err("the header hash is not the commit's block hash".to_string())
    };
    Ok(vec![
        check_case(&format!("height {height} header hash"), hash_check),
        check_case(
            &format!("height {height} validators hash"),
            validators_match(&signed.header, &set),
        ),
        check_case(
            &format!("height {height} commit signatures"),
            commit_verifies(&signed.header.chain_id, signed.commit, &set),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_names_match_the_traces() {
        assert_eq!(verdict(&Ok(())), "SUCCESS");
        assert_eq!(
            verdict(&Err(VerificationError::NotEnoughTrust { signed: 1, total: 3 })),
            "NOT_ENOUGH_TRUST"
        );
        assert_eq!(verdict(&Err(VerificationError::TrustExpired)), "INVALID");
    }
}
