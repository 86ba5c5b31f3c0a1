//! What a durable store keeps of a request: the bytes of a [`LetterCodec`].
//!
//! The default, [`JsonCodec`], writes the request as the host serialises it
//! with serde, inside a small versioned envelope:
//!
//! ```json
//! {"v":2,"item":{"model":"sdxl","prompt":"a red fox"}}
//! ```
//!
//! Letters outlive deploys: a letter written by version N of the host may
//! be replayed by version N+1. Bump the codec's version when the request's
//! shape changes and give it an upgrade function for older letters; a
//! letter that still cannot be decoded is parked by the store (kept, with
//! the decode error), never dropped and never fed to the handler.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Turns requests into stored bytes and back.
///
/// ```
/// use resilience_core::dead_letter::{CodecError, LetterCodec};
/// /// Requests that are plain UTF-8 strings, stored as is.
/// #[derive(Debug)]
/// struct Utf8;
/// impl LetterCodec<String> for Utf8 {
///     fn encode(&self, item: &String) -> Result<Vec<u8>, CodecError> { Ok(item.as_bytes().to_vec()) }
///     fn decode(&self, bytes: &[u8]) -> Result<String, CodecError> {
///         String::from_utf8(bytes.to_vec()).map_err(|e| CodecError::Decode(e.to_string()))
///     }
/// }
/// assert_eq!(Utf8.decode(&Utf8.encode(&"hi".to_string()).unwrap()).unwrap(), "hi");
/// ```
pub trait LetterCodec<T>: Send + Sync + 'static {
    /// The stored form of `item`.
    fn encode(&self, item: &T) -> Result<Vec<u8>, CodecError>;
    /// The request back from its stored form.
    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError>;
}

/// A request that could not be encoded or decoded.
///
/// ```
/// use resilience_core::dead_letter::CodecError;
/// let e = CodecError::Version { found: 3, expected: 2 };
/// assert!(e.to_string().contains("version 3"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Serialising the request failed.
    #[error("the request could not be serialised: {0}")]
    Encode(String),
    /// The stored bytes are not a request of this type.
    #[error("the stored letter could not be decoded: {0}")]
    Decode(String),
    /// The letter was written under a version this codec does not read
    /// (and no upgrade function took it).
    #[error("the stored letter has format version {found}, this codec reads version {expected}: add an upgrade for version {found}")]
    Version {
        /// The letter's version.
        found: u32,
        /// The codec's version.
        expected: u32,
    },
}

type Upgrade =
    Arc<dyn Fn(u32, serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync>;

/// The default codec: serde JSON in a versioned envelope,
/// `{"v":<version>,"item":<request>}`.
///
/// ```
/// use resilience_core::dead_letter::{CodecError, JsonCodec, LetterCodec};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// struct Job { model: String, steps: u32 }
///
/// let v1 = JsonCodec::new(); // version 1
/// let stored = v1.encode(&serde_json::json!({"model": "sdxl"})).unwrap();
///
/// // Version 2 added `steps`; letters written by version 1 are upgraded.
/// let v2 = JsonCodec::versioned(2).with_upgrade(|from, mut item| {
///     if from == 1 { item["steps"] = 30.into(); }
///     Ok(item)
/// });
/// let job: Job = v2.decode(&stored).unwrap();
/// assert_eq!(job, Job { model: "sdxl".into(), steps: 30 });
/// // Without an upgrade the old letter is refused with a clear error (and parked by a store).
/// let strict = JsonCodec::versioned(2);
/// assert!(matches!(LetterCodec::<Job>::decode(&strict, &stored), Err(CodecError::Version { found: 1, expected: 2 })));
/// ```
#[derive(Clone)]
pub struct JsonCodec {
    version: u32,
    upgrade: Option<Upgrade>,
}

impl JsonCodec {
    /// Version 1, no upgrades.
    pub fn new() -> JsonCodec {
        JsonCodec::versioned(1)
    }

    /// Writes `version`; reads only `version` unless an upgrade is given.
    pub fn versioned(version: u32) -> JsonCodec {
        JsonCodec {
            version,
            upgrade: None,
        }
    }

    /// Reads letters of other versions through `upgrade(found_version,
    /// item)`, which returns the item in the current shape (or why not).
    pub fn with_upgrade<F>(mut self, upgrade: F) -> JsonCodec
    where
        F: Fn(u32, serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync + 'static,
    {
        self.upgrade = Some(Arc::new(upgrade));
        self
    }

    /// The version it writes.
    pub fn version(&self) -> u32 {
        self.version
    }
}

impl Default for JsonCodec {
    fn default() -> Self {
        JsonCodec::new()
    }
}

impl fmt::Debug for JsonCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonCodec")
            .field("version", &self.version)
            .field("upgrade", &self.upgrade.is_some())
            .finish()
    }
}

#[derive(Serialize)]
struct EnvelopeRef<'a, T> {
    v: u32,
    item: &'a T,
}

/// The envelope as read (its `v` was read first, by [`VersionOnly`]).
#[derive(Deserialize)]
struct Envelope<T> {
    item: T,
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u32,
}

impl<T: Serialize + DeserializeOwned> LetterCodec<T> for JsonCodec {
    fn encode(&self, item: &T) -> Result<Vec<u8>, CodecError> {
        serde_json::to_vec(&EnvelopeRef {
            v: self.version,
            item,
        })
        .map_err(|e| CodecError::Encode(e.to_string()))
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let decode_err = |e: serde_json::Error| CodecError::Decode(e.to_string());
        let VersionOnly { v } = serde_json::from_slice(bytes).map_err(decode_err)?;
        if v == self.version {
            let env: Envelope<T> = serde_json::from_slice(bytes).map_err(decode_err)?;
            return Ok(env.item);
        }
        let Some(upgrade) = &self.upgrade else {
            return Err(CodecError::Version {
                found: v,
                expected: self.version,
            });
        };
        let env: Envelope<serde_json::Value> = serde_json::from_slice(bytes).map_err(decode_err)?;
        let item = upgrade(v, env.item).map_err(|e| {
            CodecError::Decode(format!("upgrading a version {v} letter failed: {e}"))
        })?;
        serde_json::from_value(item).map_err(decode_err)
    }
}

/// A codec that stores `Vec<u8>` requests as they are (no envelope): for
/// hosts that already hold serialised requests.
///
/// ```
/// use resilience_core::dead_letter::{BytesCodec, LetterCodec};
/// assert_eq!(BytesCodec.encode(&vec![1, 2]).unwrap(), [1, 2]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesCodec;

impl LetterCodec<Vec<u8>> for BytesCodec {
    fn encode(&self, item: &Vec<u8>) -> Result<Vec<u8>, CodecError> {
        Ok(item.clone())
    }
    fn decode(&self, bytes: &[u8]) -> Result<Vec<u8>, CodecError> {
        Ok(bytes.to_vec())
    }
}
