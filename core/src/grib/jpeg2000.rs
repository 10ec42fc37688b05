//! JPEG 2000 codestreams (data representation template 5.40) through openjpeg, in native
//! builds only (openjpeg is C; the wasm builds say the packing is unsupported).
//!
//! Why our own glue to openjpeg instead of gribberish's: openjpeg reads its input through a
//! callback that must report the end of the input by returning `(OPJ_SIZE_T)-1`. gribberish
//! 1.9's callback returns 0 there, which openjpeg takes as "nothing yet, ask again": a
//! codestream cut short — a truncated or lying message — made the decoder spin forever (the
//! fuzzer found it; `tests_hostile::truncated_jpeg2000_codestreams_are_errors`). Here the input
//! says where it ends, every openjpeg object is freed on every path, and the image's size, read
//! from its own header, is checked against what section 5 announces before openjpeg allocates
//! anything for it.

use std::ffi::c_void;

use openjpeg_sys as opj;

use super::GribError;

/// The codestream being read and how far openjpeg has read it.
struct Input<'a> {
    bytes: &'a [u8],
    position: usize,
}

/// `opj_stream_read_fn`: copies up to `n` bytes; `(OPJ_SIZE_T)-1` at the end of the input.
unsafe extern "C" fn read(buffer: *mut c_void, n: usize, user: *mut c_void) -> usize {
    // SAFETY: `user` is the `Input` that `decode` keeps alive and unaliased while openjpeg runs;
    // openjpeg hands us a buffer of at least `n` writable bytes.
    let input = unsafe { &mut *user.cast::<Input<'_>>() };
    let left = input.bytes.len().saturating_sub(input.position);
    if left == 0 || buffer.is_null() {
        return usize::MAX;
    }
    let n = n.min(left);
    let from = &input.bytes[input.position..input.position + n];
    // SAFETY: as above; `from` and openjpeg's buffer do not overlap.
    unsafe { std::ptr::copy_nonoverlapping(from.as_ptr(), buffer.cast::<u8>(), n) };
    input.position += n;
    n
}

/// `opj_stream_skip_fn`: skips forward up to `n` bytes; the bytes skipped, or -1 at the end.
unsafe extern "C" fn skip(n: i64, user: *mut c_void) -> i64 {
    // SAFETY: see `read`.
    let input = unsafe { &mut *user.cast::<Input<'_>>() };
    let left = input.bytes.len().saturating_sub(input.position);
    if n < 0 || left == 0 {
        return -1;
    }
    let n = usize::try_from(n).unwrap_or(usize::MAX).min(left);
    input.position += n;
    n as i64
}

/// `opj_stream_seek_fn`: moves to byte `to`; false outside the input.
unsafe extern "C" fn seek(to: i64, user: *mut c_void) -> i32 {
    // SAFETY: see `read`.
    let input = unsafe { &mut *user.cast::<Input<'_>>() };
    match usize::try_from(to) {
        Ok(to) if to <= input.bytes.len() => {
            input.position = to;
            1
        }
        _ => 0,
    }
}

/// Frees an openjpeg object when dropped (each `opj_*_destroy` accepts null).
struct Owned<T>(*mut T, unsafe extern "C" fn(*mut T));

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from the matching openjpeg constructor (or is null) and is
        // freed once, here.
        unsafe { (self.1)(self.0) }
    }
}

fn failed(what: &str) -> GribError {
    GribError::Compression(format!("JPEG 2000: {what}"))
}

/// The samples of the first image component of the J2K `codestream`, which must hold exactly
/// `count` of them (the values section 5 announces).
pub(crate) fn decode(codestream: &[u8], count: usize) -> Result<Vec<i32>, GribError> {
    if codestream.is_empty() {
        return Err(failed("empty codestream"));
    }
    let mut input = Input {
        bytes: codestream,
        position: 0,
    };
    // Dropped in reverse order: image, codec, stream.
    // SAFETY (this block and the calls below): plain openjpeg API use; every pointer is checked
    // for null before use, `input` outlives the stream, and the callbacks above honour the
    // stream contract.
    unsafe {
        let stream = Owned(opj::opj_stream_default_create(1), opj::opj_stream_destroy);
        if stream.0.is_null() {
            return Err(failed("no stream"));
        }
        opj::opj_stream_set_read_function(stream.0, Some(read));
        opj::opj_stream_set_skip_function(stream.0, Some(skip));
        opj::opj_stream_set_seek_function(stream.0, Some(seek));
        opj::opj_stream_set_user_data(stream.0, (&raw mut input).cast::<c_void>(), None);
        opj::opj_stream_set_user_data_length(stream.0, codestream.len() as u64);

        let codec = Owned(
            opj::opj_create_decompress(opj::CODEC_FORMAT::OPJ_CODEC_J2K),
            opj::opj_destroy_codec,
        );
        if codec.0.is_null() {
            return Err(failed("no decoder"));
        }
        let mut parameters = std::mem::MaybeUninit::<opj::opj_dparameters_t>::zeroed();
        opj::opj_set_default_decoder_parameters(parameters.as_mut_ptr());
        if opj::opj_setup_decoder(codec.0, parameters.as_mut_ptr()) == 0 {
            return Err(failed("decoder set-up"));
        }
        let mut raw_image: *mut opj::opj_image_t = std::ptr::null_mut();
        let header = opj::opj_read_header(stream.0, codec.0, &raw mut raw_image);
        let image = Owned(raw_image, opj::opj_image_destroy);
        if header == 0 || image.0.is_null() {
            return Err(failed("bad codestream header"));
        }
        let first = first_component(&*image.0)?;
        let (width, height) = (first.w as usize, first.h as usize);
        if width.checked_mul(height) != Some(count) {
            return Err(GribError::Inconsistent(format!(
                "JPEG 2000 image of {width}x{height} samples for {count} values"
            )));
        }
        if opj::opj_decode(codec.0, stream.0, image.0) == 0
            || opj::opj_end_decompress(codec.0, stream.0) == 0
        {
            return Err(failed(
                "the codestream does not decode (truncated or corrupt)",
            ));
        }
        let first = first_component(&*image.0)?;
        if first.data.is_null() || (first.w as usize).checked_mul(first.h as usize) != Some(count) {
            return Err(failed("no samples decoded"));
        }
        Ok(std::slice::from_raw_parts(first.data, count).to_vec())
    }
}

/// The image's first component (GRIB2 images have one).
fn first_component(image: &opj::opj_image_t) -> Result<&opj::opj_image_comp_t, GribError> {
    if image.numcomps == 0 || image.comps.is_null() {
        return Err(failed("an image without components"));
    }
    // SAFETY: `comps` holds `numcomps` (≥ 1) components, owned by the image that outlives the
    // borrow.
    Ok(unsafe { &*image.comps })
}
