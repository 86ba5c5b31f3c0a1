//! The Redis key layout of the fleet store, kept apart from the scripts so
//! it can be checked without a server.
//!
//! Every key carries the budget's or breaker's name as a Redis Cluster
//! hash tag (`{name}`), so all keys of one budget or breaker hash to one
//! slot and a script that takes several of them (the view exchange takes
//! the views hash and the last-seen sorted set) runs on Redis Cluster as
//! on a single node. Names and the key prefix are validated to
//! `[A-Za-z0-9_.-]`, so no other brace can move the tag.

/// The key of `parts` under `prefix`: `<prefix>:fleet:<kind>:{<name>}[:<rest>…]`,
/// where `parts` is `[kind, name, rest…]`.
pub(crate) fn fleet_key(prefix: &str, parts: &[&str]) -> String {
    let mut k = format!("{prefix}:fleet");
    for (i, p) in parts.iter().enumerate() {
        k.push(':');
        if i == 1 {
            k.push('{');
            k.push_str(p);
            k.push('}');
        } else {
            k.push_str(p);
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::fleet_key;

    /// The part of `key` Redis Cluster hashes: the text between the first
    /// `{` and the next `}` when it is not empty, else the whole key.
    fn hashed_part(key: &str) -> &str {
        let tag = key.find('{').and_then(|open| {
            let rest = &key[open + 1..];
            rest.find('}')
                .filter(|&len| len > 0)
                .map(|len| &rest[..len])
        });
        tag.unwrap_or(key)
    }

    /// CRC16/XMODEM modulo 16384, as Redis Cluster computes a key's slot.
    fn slot(key: &str) -> u16 {
        let mut crc: u16 = 0;
        for &b in hashed_part(key).as_bytes() {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc % 16384
    }

    #[test]
    fn slot_function_matches_the_redis_cluster_reference_values() {
        // From the Redis Cluster specification: CRC16("123456789") = 0x31C3.
        assert_eq!(slot("123456789"), 0x31C3, "CRC16 of 123456789 is 0x31C3");
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
        assert_eq!(
            hashed_part("foo{}{bar}"),
            "foo{}{bar}",
            "an empty tag hashes the whole key"
        );
    }

    #[test]
    fn every_key_of_a_budget_or_breaker_carries_its_name_as_hash_tag() {
        let keys = [
            fleet_key("resilience", &["budget", "inventory"]),
            fleet_key("resilience", &["ratio", "inventory"]),
            fleet_key("resilience", &["breaker", "inventory", "views"]),
            fleet_key("resilience", &["breaker", "inventory", "seen"]),
            fleet_key("resilience", &["breaker", "inventory", "probes"]),
        ];
        assert_eq!(keys[0], "resilience:fleet:budget:{inventory}");
        assert_eq!(keys[2], "resilience:fleet:breaker:{inventory}:views");
        for k in &keys {
            assert_eq!(hashed_part(k), "inventory", "{k} hashes on the name only");
            assert_eq!(slot(k), slot("{inventory}"), "{k} lands on the name's slot");
        }
    }

    #[test]
    fn the_view_exchange_keys_share_one_slot_for_any_valid_name_and_prefix() {
        // The view exchange is the multi-key script: KEYS[1] views, KEYS[2] seen.
        for (prefix, name) in [
            ("resilience", "a"),
            ("svc.prod-1", "payments_api"),
            ("p", "x.y-z_0"),
            ("resilience", &"n".repeat(100) as &str),
        ] {
            let views = fleet_key(prefix, &["breaker", name, "views"]);
            let seen = fleet_key(prefix, &["breaker", name, "seen"]);
            assert_eq!(slot(&views), slot(&seen), "{views} and {seen} share a slot");
            assert_eq!(hashed_part(&views), name);
        }
        // Different names spread over slots rather than all landing on one.
        let a = fleet_key("resilience", &["breaker", "inventory", "views"]);
        let b = fleet_key("resilience", &["breaker", "payments", "views"]);
        assert_ne!(
            slot(&a),
            slot(&b),
            "two breakers are not pinned to one slot"
        );
    }
}
