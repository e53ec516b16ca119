//! Our verifier against vectors signed by an independent implementation and checked by
//! aiogram (`testdata/make_vectors.py`): same signature verdicts, plus our time rules.

use serde_json::Value;
use webapp_auth::{InitDataError, Source, Verifier};

fn vectors() -> Value {
    serde_json::from_str(include_str!("../testdata/vectors.json")).unwrap()
}

#[test]
fn verdicts_agree_with_aiogram_and_the_time_rules() {
    let vectors = vectors();
    let verifier = Verifier::new(vectors["token"].as_str().unwrap());
    let now = vectors["now"].as_u64().unwrap();
    let mut seen = 0;
    for case in vectors["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let init_data = case["init_data"].as_str().unwrap();
        let ours = verifier.verify(init_data, now);
        // The signature verdict is aiogram's.
        let signature_ok = !matches!(
            ours,
            Err(InitDataError::BadSignature
                | InitDataError::MissingHash
                | InitDataError::Malformed)
        );
        assert_eq!(
            signature_ok,
            case["aiogram_valid"].as_bool().unwrap(),
            "{name}: {ours:?}"
        );
        // And then our rules on top.
        let expected = match name {
            "valid" | "valid-reordered" | "valid-plus-spaces" | "slightly-ahead" => Ok(()),
            "tampered-user" | "tampered-auth-date" | "other-bot" => {
                Err(InitDataError::BadSignature)
            }
            "missing-hash" => Err(InitDataError::MissingHash),
            "expired" => Err(InitDataError::Expired { age: 2 * 86_400 }),
            "future-dated" => Err(InitDataError::FromTheFuture { ahead: 3_600 }),
            "missing-auth-date" => Err(InitDataError::MissingAuthDate),
            "not-a-query" => Err(InitDataError::Malformed),
            other => panic!("unknown vector {other}"),
        };
        assert_eq!(
            ours.as_ref().map(|_| ()),
            expected.as_ref().map(|_| ()),
            "{name}"
        );
        if let Ok(data) = ours {
            let user = data.user.expect("the vectors carry a user");
            assert_eq!((user.id, user.first_name.as_str()), (42, "Zoë"), "{name}");
        }
        seen += 1;
    }
    assert_eq!(seen, 12);
}

#[test]
fn init_data_in_a_named_parameter() {
    let vectors = vectors();
    let now = vectors["now"].as_u64().unwrap();
    let valid = vectors["cases"][0]["init_data"].as_str().unwrap();
    let encoded: String = form_urlencoded::byte_serialize(valid.as_bytes()).collect();
    let query = format!("game_id=1&tgWebAppData={encoded}");
    let verifier = Verifier::new(vectors["token"].as_str().unwrap())
        .source(Source::Parameter("tgWebAppData".into()));
    assert_eq!(
        verifier.verify_query(&query, now).unwrap().user.unwrap().id,
        42
    );
    assert_eq!(
        verifier.verify_query("game_id=1", now),
        Err(InitDataError::Missing)
    );
    // The whole query is not init data when a parameter is named.
    let whole = Verifier::new(vectors["token"].as_str().unwrap());
    assert_eq!(whole.verify_query(valid, now).unwrap().auth_date, now - 60);
}

#[test]
fn limits_are_configurable() {
    let vectors = vectors();
    let now = vectors["now"].as_u64().unwrap();
    let valid = vectors["cases"][0]["init_data"].as_str().unwrap();
    let strict = Verifier::new(vectors["token"].as_str().unwrap()).max_age(30);
    assert_eq!(
        strict.verify(valid, now),
        Err(InitDataError::Expired { age: 60 })
    );
    let ahead = vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "slightly-ahead")
        .unwrap();
    let no_skew = Verifier::new(vectors["token"].as_str().unwrap()).clock_skew(0);
    let result = no_skew.verify(ahead["init_data"].as_str().unwrap(), now);
    assert_eq!(result, Err(InitDataError::FromTheFuture { ahead: 10 }));
    assert_eq!(no_skew.verify("", now), Err(InitDataError::Missing));
    assert!(
        !format!("{no_skew:?}").contains("secret"),
        "the secret stays out of Debug"
    );
}
