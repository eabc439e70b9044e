//! Result status codes shared by the canonical result, the on-chain summary and the contracts.

use serde::{Deserialize, Serialize};

/// Status of a segmentation result (`uint8` on chain). Any other value is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum Status {
    /// The image was decoded and segmented.
    Ok = 0,
    /// The input could not be fetched (unreachable, HTTP error, timeout, over the size limit).
    FetchFailed = 1,
    /// The bytes are not an image in a supported format (unknown format, text, zero bytes).
    NotAnImage = 2,
    /// Truncated or invalid data of a known format.
    CorruptImage = 3,
    /// Declared or decoded dimensions, total pixels or allocation over the limits (bombs).
    TooLarge = 4,
    /// Inference failed on a decodable image.
    ModelError = 5,
}

impl Status {
    /// All statuses, in code order.
    pub const ALL: [Status; 6] = [
        Status::Ok,
        Status::FetchFailed,
        Status::NotAnImage,
        Status::CorruptImage,
        Status::TooLarge,
        Status::ModelError,
    ];

    /// The `uint8` code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Parses a code; `None` for anything that is not a defined status.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Stable name, as printed by the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "Ok",
            Status::FetchFailed => "FetchFailed",
            Status::NotAnImage => "NotAnImage",
            Status::CorruptImage => "CorruptImage",
            Status::TooLarge => "TooLarge",
            Status::ModelError => "ModelError",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_others_are_invalid() {
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
        assert_eq!(Status::Ok.code(), 0);
        assert_eq!(Status::ModelError.code(), 5);
        for c in 6..=255u8 {
            assert_eq!(Status::from_code(c), None);
        }
    }
}
