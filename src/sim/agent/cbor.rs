//! CBOR messages of MQTT file delivery as the agents encode and decode them
//! (docs/protocol.md §3.2, §3.3): the GetStream request and one data block.

use ciborium::Value;

/// What the agent asks for in one GetStream request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetStream<'a> {
    pub file_id: u32,
    pub block_size: u32,
    /// Whole-file bitmap of missing blocks, least-significant bit first.
    pub bitmap: &'a [u8],
    /// v3 sends `n`; v1 sends none.
    pub num_blocks: Option<u32>,
}

/// Encodes `{"c":"rdy","f":..,"l":..,"o":0,"b":h'..'[,"n":..]}` in the agents' key order.
pub fn encode_get_stream(req: &GetStream<'_>) -> Vec<u8> {
    let mut map = vec![
        (Value::Text("c".into()), Value::Text("rdy".into())),
        (Value::Text("f".into()), Value::Integer(req.file_id.into())),
        (
            Value::Text("l".into()),
            Value::Integer(req.block_size.into()),
        ),
        (Value::Text("o".into()), Value::Integer(0.into())),
        (Value::Text("b".into()), Value::Bytes(req.bitmap.to_vec())),
    ];
    if let Some(n) = req.num_blocks {
        map.push((Value::Text("n".into()), Value::Integer(n.into())));
    }
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    ciborium::into_writer(&Value::Map(map), &mut out).expect("CBOR encode into a Vec");
    out
}

/// One decoded `data/cbor` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataBlock {
    pub file_id: i64,
    pub block_id: i64,
    pub block_size: i64,
    pub payload: Vec<u8>,
}

/// Decodes a data block as the agents' decoders do: a top-level map with integer
/// `f`, `i`, `l` and a byte string `p`, keys in any order; `None` otherwise.
pub fn decode_data_block(bytes: &[u8]) -> Option<DataBlock> {
    let value: Value = ciborium::from_reader(bytes).ok()?;
    let Value::Map(entries) = value else {
        return None;
    };
    let find = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
            .map(|(_, v)| v)
    };
    let int = |key: &str| match find(key)? {
        Value::Integer(i) => i64::try_from(i128::from(*i)).ok(),
        _ => None,
    };
    let payload = match find("p")? {
        Value::Bytes(b) => b.clone(),
        _ => return None,
    };
    Some(DataBlock {
        file_id: int("f")?,
        block_id: int("i")?,
        block_size: int("l")?,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_stream_for_three_blocks_matches_the_real_v3_request_bytes() {
        let bytes = encode_get_stream(&GetStream {
            file_id: 0,
            block_size: 4096,
            bitmap: &[0x07],
            num_blocks: Some(8),
        });
        // The vectors record a 25-byte request for this case.
        assert_eq!(bytes.len(), 25);
        let v: Value = ciborium::from_reader(&bytes[..]).unwrap();
        let Value::Map(m) = v else {
            panic!("not a map")
        };
        let keys: Vec<_> = m
            .iter()
            .map(|(k, _)| k.as_text().unwrap().to_string())
            .collect();
        assert_eq!(keys, ["c", "f", "l", "o", "b", "n"]);
        assert_eq!(m[4].1, Value::Bytes(vec![0x07]));
    }

    #[test]
    fn v1_request_has_no_n() {
        let bytes = encode_get_stream(&GetStream {
            file_id: 3,
            block_size: 1024,
            bitmap: &[0xff, 0x01],
            num_blocks: None,
        });
        let v: Value = ciborium::from_reader(&bytes[..]).unwrap();
        assert_eq!(v.as_map().unwrap().len(), 5);
    }

    #[test]
    fn data_block_decodes_in_any_key_order_and_needs_a_byte_string() {
        let good = Value::Map(vec![
            (Value::Text("p".into()), Value::Bytes(vec![1, 2, 3])),
            (Value::Text("i".into()), Value::Integer(2.into())),
            (Value::Text("l".into()), Value::Integer(3.into())),
            (Value::Text("f".into()), Value::Integer(0.into())),
        ]);
        let mut bytes = Vec::new();
        ciborium::into_writer(&good, &mut bytes).unwrap();
        let b = decode_data_block(&bytes).unwrap();
        assert_eq!(
            (b.block_id, b.block_size, b.payload.as_slice()),
            (2, 3, &[1u8, 2, 3][..])
        );

        let bad = Value::Map(vec![
            (
                Value::Text("p".into()),
                Value::Array(vec![Value::Integer(1.into())]),
            ),
            (Value::Text("i".into()), Value::Integer(2.into())),
            (Value::Text("l".into()), Value::Integer(1.into())),
            (Value::Text("f".into()), Value::Integer(0.into())),
        ]);
        let mut bytes = Vec::new();
        ciborium::into_writer(&bad, &mut bytes).unwrap();
        assert!(decode_data_block(&bytes).is_none());
    }
}
