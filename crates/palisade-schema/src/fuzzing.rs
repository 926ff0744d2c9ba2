//! Entry points for the fuzz targets under `fuzz/`; not a stable API.

use crate::{Event, MAX_EVENT_LEN};

/// Decodes `data` as one event. Whatever decodes must re-encode to exactly
/// the same bytes, because the strict decoder accepts only canonical input.
pub fn decode_event(data: &[u8]) {
    if let Ok(event) = crate::from_bytes::<Event<'_>>(data) {
        let mut buffer = [0u8; MAX_EVENT_LEN];
        let encoded = crate::to_slice(&event, &mut buffer);
        assert_eq!(
            encoded.ok().map(|bytes| &*bytes),
            Some(data),
            "decoded event re-encodes differently"
        );
    }
}
