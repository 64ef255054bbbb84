//! Reading an HDR histogram (the V2 format, compressed or not) from bytes a user handed us, in
//! a report or an interval log, without trusting the sizes the bytes declare.
//!
//! HdrHistogram's own decoder sizes its buffer from the payload length in the header before it
//! reads a byte of the payload: forty crafted bytes claiming a 4 GB payload make it allocate
//! 4 GB. Here the compressed form is inflated with a cap, the header is checked against the bytes
//! actually there (payload length, significant digits, bounds), and only then is the decoder
//! given bytes it cannot be fooled by. The histogram is then added into the standard one of
//! [`super::new_histogram`] (1 ns to an hour, three digits), so that every histogram read takes
//! the same memory, whatever bounds the file declared.

use std::io::Read;

use flate2::read::ZlibDecoder;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;

use super::new_histogram;

/// The V2 format's cookie, and its compressed form's.
const V2: u32 = 0x1c84_9313;
const V2_COMPRESSED: u32 = 0x1c84_9314;

/// The bytes of the header of the uncompressed form: cookie, payload length, normalizing
/// offset, significant digits, lowest and highest trackable values, integer-to-double ratio.
const HEADER: usize = 40;

/// The most bytes a histogram may inflate to: a full histogram of the standard bounds encodes to
/// a few hundred kilobytes at worst.
const MOST_INFLATED: usize = 16 << 20;

/// The most significant digits HdrHistogram allows.
const MOST_DIGITS: u32 = 5;

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(word)
}

fn be_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(word)
}

/// The uncompressed form of `bytes`, inflated with a cap if they are compressed.
fn uncompressed(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    if bytes.len() < 8 {
        return Err(format!("{} bytes are too few for a histogram", bytes.len()));
    }
    match be_u32(bytes, 0) {
        V2 => Ok(std::borrow::Cow::Borrowed(bytes)),
        V2_COMPRESSED => {
            let declared = be_u32(bytes, 4) as usize;
            let body = &bytes[8..];
            if declared > body.len() {
                return Err(format!(
                    "its compressed payload claims {declared} bytes and {} are there",
                    body.len()
                ));
            }
            let mut inflated = Vec::new();
            ZlibDecoder::new(&body[..declared])
                .take(MOST_INFLATED as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|e| format!("its compressed payload does not inflate: {e}"))?;
            if inflated.len() > MOST_INFLATED {
                return Err(format!(
                    "its payload inflates past {MOST_INFLATED} bytes: not one histogram"
                ));
            }
            Ok(std::borrow::Cow::Owned(inflated))
        }
        other => Err(format!("cookie {other:#x} is not an HDR histogram's (V2)")),
    }
}

/// The bounds and digits of [`new_histogram`]'s histograms, found once.
fn standard_shape() -> (u64, u64, u8) {
    static SHAPE: std::sync::OnceLock<(u64, u64, u8)> = std::sync::OnceLock::new();
    *SHAPE.get_or_init(|| {
        let standard = new_histogram();
        (standard.low(), standard.high(), standard.sigfig())
    })
}

/// Decodes a histogram of nanoseconds from the V2 format, checked (see the module
/// documentation), into the standard bounds; what is wrong, if anything.
pub fn decode_histogram(bytes: &[u8]) -> Result<Histogram<u64>, String> {
    let plain = uncompressed(bytes)?;
    if plain.len() < HEADER {
        return Err("its header is cut short".to_owned());
    }
    if be_u32(&plain, 0) != V2 {
        return Err("its inflated payload is not a V2 histogram".to_owned());
    }
    let payload = be_u32(&plain, 4) as usize;
    if payload > plain.len() - HEADER {
        return Err(format!(
            "it claims {payload} bytes of counts and {} are there",
            plain.len() - HEADER
        ));
    }
    let digits = be_u32(&plain, 12);
    let (lowest, highest) = (be_u64(&plain, 16), be_u64(&plain, 24));
    if digits > MOST_DIGITS || lowest < 1 || highest < lowest.saturating_mul(2) {
        return Err(format!(
            "its bounds are not a histogram's: {digits} digits, {lowest} to {highest}"
        ));
    }
    let read: Histogram<u64> = Deserializer::new()
        .deserialize(&mut &plain[..HEADER + payload])
        .map_err(|e| format!("its counts do not decode: {e:?}"))?;
    if (read.low(), read.high(), read.sigfig()) == standard_shape() {
        // Ours, or written with our bounds: already the standard shape.
        return Ok(read);
    }
    // Another shape: its counts move into a standard histogram, which costs its 270 KB of
    // counts, so it is made only here, never for one of ours.
    let mut standard = new_histogram();
    standard
        .add(&read)
        .map_err(|_| "it holds values beyond an hour".to_owned())?;
    Ok(standard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer, V2Serializer};

    fn recorded() -> Histogram<u64> {
        let mut h = new_histogram();
        for micros in 1..=1000u64 {
            h.record(micros * 1_000).unwrap();
        }
        h
    }

    #[test]
    fn both_forms_decode_to_the_same_histogram() {
        let h = recorded();
        let (mut compressed, mut plain) = (Vec::new(), Vec::new());
        V2DeflateSerializer::new()
            .serialize(&h, &mut compressed)
            .unwrap();
        V2Serializer::new().serialize(&h, &mut plain).unwrap();
        for bytes in [compressed, plain] {
            let read = decode_histogram(&bytes).unwrap();
            assert_eq!(read.len(), 1000);
            assert_eq!(read.value_at_quantile(0.99), h.value_at_quantile(0.99));
        }
    }

    #[test]
    fn a_payload_length_that_the_bytes_do_not_hold_is_refused_before_any_allocation() {
        // Forty bytes claiming four gigabytes of counts: HdrHistogram's decoder would allocate
        // them before reading.
        let mut plain = Vec::new();
        V2Serializer::new()
            .serialize(&recorded(), &mut plain)
            .unwrap();
        plain[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        let why = decode_histogram(&plain[..HEADER]).unwrap_err();
        assert!(why.contains("claims 4294967295 bytes of counts"), "{why}");
        // The same lie inside the compressed form.
        let mut lying = Vec::new();
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, &plain[..HEADER]).unwrap();
        let body = encoder.finish().unwrap();
        lying.extend(V2_COMPRESSED.to_be_bytes());
        lying.extend((body.len() as u32).to_be_bytes());
        lying.extend(body);
        assert!(decode_histogram(&lying).unwrap_err().contains("claims"));
    }

    #[test]
    fn cut_foreign_and_out_of_range_histograms_are_refused_with_what_is_wrong() {
        let mut compressed = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&recorded(), &mut compressed)
            .unwrap();
        let cut = decode_histogram(&compressed[..compressed.len() / 2]).unwrap_err();
        assert!(cut.contains("compressed payload claims"), "{cut}");
        assert!(
            decode_histogram(b"hello, world")
                .unwrap_err()
                .contains("cookie")
        );
        assert!(decode_histogram(&[]).unwrap_err().contains("too few"));
        // A histogram of other bounds holding a value beyond an hour.
        let mut wide = Histogram::<u64>::new_with_bounds(1, u64::MAX / 4, 2).unwrap();
        wide.record(7_200_000_000_000).unwrap();
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&wide, &mut bytes)
            .unwrap();
        assert!(
            decode_histogram(&bytes)
                .unwrap_err()
                .contains("beyond an hour")
        );
    }
}
