//! Whole-file gzip decompression with libdeflate (about twice as fast as a streaming inflate).
//!
//! CloudTrail writes each delivery file as one gzip member of a few MB, so the usual case is
//! "decompress this whole buffer in one call". libdeflate needs the output size up front: the
//! gzip trailer's ISIZE gives it (mod 2^32). Anything else — several members, a truncated or
//! corrupt stream, a size that does not fit the limits — is declined (`None`) and the caller
//! falls back to the streaming decoder, which keeps the records before a truncation.

use std::cell::RefCell;
use std::ffi::c_void;

/// Largest compressed input taken whole (larger files stream, so memory stays bounded).
pub const MAX_COMPRESSED: usize = 64 << 20;
/// Largest output buffer allocated for one file.
pub const MAX_UNCOMPRESSED: usize = 256 << 20;

struct Decompressor(*mut libdeflate_sys::libdeflate_decompressor);

impl Decompressor {
    fn new() -> Option<Decompressor> {
        // SAFETY: plain constructor; a null return (allocation failure) is checked.
        let p = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        (!p.is_null()).then_some(Decompressor(p))
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from libdeflate_alloc_decompressor and is freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0) }
    }
}

thread_local! {
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

/// Decompresses `gz` (a complete single-member gzip file) into `out` (cleared first).
/// Returns false, with `out` in an unspecified state, when the fast path does not apply.
pub fn gunzip_whole(gz: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    if gz.len() < 18 || gz.len() > MAX_COMPRESSED || gz[0] != 0x1f || gz[1] != 0x8b {
        return false;
    }
    let t = &gz[gz.len() - 4..];
    let isize = u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize;
    // ISIZE is mod 2^32 and attacker-controlled: a size over the limit, or more than deflate
    // can expand this input to (1032:1 at most), sends the file to the streaming path before
    // anything is allocated.
    if isize > MAX_UNCOMPRESSED || isize > gz.len().saturating_mul(1032) {
        return false;
    }
    out.reserve_exact(isize.max(1));
    DECOMPRESSOR.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return false;
        };
        if slot.is_none() {
            *slot = Decompressor::new();
        }
        let Some(d) = slot.as_ref() else { return false };
        let (mut in_n, mut out_n) = (0usize, 0usize);
        // SAFETY: input and output pointers/lengths describe live buffers (`out` has at least
        // `isize` bytes of capacity, written by libdeflate before `set_len`); the decompressor
        // is used by this thread only.
        let r = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                d.0,
                gz.as_ptr() as *const c_void,
                gz.len(),
                out.as_mut_ptr() as *mut c_void,
                isize,
                &mut in_n,
                &mut out_n,
            )
        };
        // Only a single member that ends exactly at the end of the input, and fills exactly
        // ISIZE bytes, is accepted: anything after it (another member) needs the stream path.
        if r == libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS
            && in_n == gz.len()
            && out_n == isize
        {
            // SAFETY: libdeflate reported `out_n` (<= capacity) bytes written.
            unsafe { out.set_len(out_n) };
            true
        } else {
            false
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn single_member_roundtrip() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| format!("{{\"n\":{i}}},").into_bytes())
            .collect();
        let mut out = Vec::new();
        assert!(gunzip_whole(&gz(&data), &mut out));
        assert_eq!(out, data);
        // Empty content is a valid member too.
        assert!(gunzip_whole(&gz(b""), &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn declines_multi_member_truncated_corrupt_and_lying_isize() {
        let mut out = Vec::new();
        let mut two = gz(b"first member ");
        two.extend(gz(b"second member"));
        assert!(!gunzip_whole(&two, &mut out));
        // Two identical members: same CRC and ISIZE in both trailers, still declined.
        let mut same = gz(b"same");
        same.extend(gz(b"same"));
        assert!(!gunzip_whole(&same, &mut out));
        let one = gz(&[b'x'; 10_000]);
        assert!(!gunzip_whole(&one[..one.len() - 9], &mut out));
        let mut bad = one.clone();
        bad[12] ^= 0xff;
        assert!(!gunzip_whole(&bad, &mut out));
        let mut lie = one.clone();
        let n = lie.len();
        lie[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(!gunzip_whole(&lie, &mut out));
        lie[n - 4..].copy_from_slice(&5u32.to_le_bytes());
        assert!(!gunzip_whole(&lie, &mut out));
        assert!(!gunzip_whole(b"not gzip at all, not gzip at all", &mut out));
    }
}
