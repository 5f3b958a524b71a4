// JPEG files through libjpeg (apps/common/jpeg.h).
#include "apps/common/jpeg.h"

#include "kernels/error.h"

#if CYGNET_HAVE_JPEG
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <new>
// jpeglib.h needs size_t and FILE declared before it.
#include <jpeglib.h>
// After jpeglib.h: the message codes and ERREXIT.
#include <jerror.h>
#endif

namespace cyg::app {

bool looks_like_jpeg(const std::string& bytes) {
  return bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
         static_cast<unsigned char>(bytes[1]) == 0xD8 && static_cast<unsigned char>(bytes[2]) == 0xFF;
}

#if CYGNET_HAVE_JPEG

namespace {

// libjpeg reports an error by calling error_exit, which must not return: it jumps back to
// the setjmp of the function that called into libjpeg, with the message kept here. A
// warning about damaged data (which libjpeg would fill in with gray) is recorded and made
// an error after; the warnings that lose nothing are let pass, as Pillow lets them.
struct ErrorJump {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool warned;
};

void on_error(j_common_ptr info) {
  auto* e = reinterpret_cast<ErrorJump*>(info->err);
  (*info->err->format_message)(info, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings about a file's headers, not its pixels: an unknown JFIF revision or Adobe
// transform code, a bad ICC profile marker, and stray bytes between markers (which
// libjpeg skips).
bool harmless(int code) {
  return code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM || code == JWRN_BOGUS_ICC ||
         code == JWRN_EXTRANEOUS_DATA;
}

void on_message(j_common_ptr info, int level) {
  auto* e = reinterpret_cast<ErrorJump*>(info->err);
  // Levels 0 and up are trace messages; -1 a warning.
  if (level < 0 && !e->warned && !harmless(info->err->msg_code)) {
    (*info->err->format_message)(info, e->message);
    e->warned = true;
  }
}

void attach(ErrorJump* err, jpeg_error_mgr** slot) {
  *slot = jpeg_std_error(&err->manager);
  err->manager.error_exit = on_error;
  err->manager.emit_message = on_message;
  err->warned = false;
}

// The outcome of one call into libjpeg, for the C++ caller to turn into an exception: no
// C++ object with a destructor lives in a frame that longjmp leaves.
enum class Outcome { Ok, Error, Warned, Cmyk, TooLarge, NoMemory };

bool too_large(int64_t width, int64_t height) {
  return width > kMostImageSide || height > kMostImageSide || width * height > kMostImagePixels;
}

// Decodes into `out`, which the caller owns: only pointers to it live in this frame. With
// `shrink`, an image over the limits is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's
// DCT scaling), the largest that fits.
Outcome decode(const std::string* bytes, bool shrink, DecodedImage* out, ErrorJump* err) {
  jpeg_decompress_struct info{};
  attach(err, &info.err);
  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(&info);
    return Outcome::Error;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes->data()), static_cast<unsigned long>(bytes->size()));
  jpeg_read_header(&info, TRUE);
  out->width = static_cast<int64_t>(info.image_width);
  out->height = static_cast<int64_t>(info.image_height);
  if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&info);
    return Outcome::Cmyk;
  }
  info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_calc_output_dimensions(&info);
  for (unsigned denom = 2; shrink && denom <= 8 && too_large(info.output_width, info.output_height); denom *= 2) {
    info.scale_num = 1;
    info.scale_denom = denom;
    jpeg_calc_output_dimensions(&info);
  }
  const auto width = static_cast<int64_t>(info.output_width), height = static_cast<int64_t>(info.output_height);
  if (too_large(width, height)) {
    jpeg_destroy_decompress(&info);
    return Outcome::TooLarge;
  }
  const int channels = info.output_components;
  try {  // before the decoder takes its own memory; nothing thrown passes through libjpeg
    out->pixels.resize(static_cast<size_t>(width * height * channels));
  } catch (const std::bad_alloc&) {
    jpeg_destroy_decompress(&info);
    return Outcome::NoMemory;
  }
  out->width = width;
  out->height = height;
  out->channels = channels;
  jpeg_start_decompress(&info);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = out->pixels.data() + static_cast<size_t>(info.output_scanline) * static_cast<size_t>(width) *
                                            static_cast<size_t>(channels);
    if (jpeg_read_scanlines(&info, &row, 1) != 1) {  // suspension, which a memory source never asks for
      jpeg_destroy_decompress(&info);
      return Outcome::Error;
    }
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return err->warned ? Outcome::Warned : Outcome::Ok;
}

// The encoder's output, in a block the caller owns and frees, grown by realloc (libjpeg's
// own memory destination frees the blocks it outgrows and reports the last one only at the
// end, which an error never reaches).
struct Sink {
  jpeg_destination_mgr manager;
  unsigned char* data;
  size_t capacity;
};

void sink_start(j_compress_ptr info) {
  auto* sink = reinterpret_cast<Sink*>(info->dest);
  sink->capacity = 4096;
  sink->data = static_cast<unsigned char*>(std::malloc(sink->capacity));
  if (sink->data == nullptr) ERREXIT1(info, JERR_OUT_OF_MEMORY, 0);
  sink->manager.next_output_byte = sink->data;
  sink->manager.free_in_buffer = sink->capacity;
}

boolean sink_grow(j_compress_ptr info) {
  auto* sink = reinterpret_cast<Sink*>(info->dest);
  auto* grown = static_cast<unsigned char*>(std::realloc(sink->data, 2 * sink->capacity));
  if (grown == nullptr) ERREXIT1(info, JERR_OUT_OF_MEMORY, 1);
  sink->data = grown;  // the block realloc freed is no longer pointed at
  sink->manager.next_output_byte = grown + sink->capacity;
  sink->manager.free_in_buffer = sink->capacity;
  sink->capacity *= 2;
  return TRUE;
}

void sink_end(j_compress_ptr) {}

Outcome encode(const uint8_t* pixels, int64_t width, int64_t height, int channels, int quality, Sink* sink,
               ErrorJump* err) {
  jpeg_compress_struct info{};
  attach(err, &info.err);
  if (setjmp(err->jump)) {
    jpeg_destroy_compress(&info);
    return Outcome::Error;
  }
  jpeg_create_compress(&info);
  sink->manager.init_destination = sink_start;
  sink->manager.empty_output_buffer = sink_grow;
  sink->manager.term_destination = sink_end;
  info.dest = &sink->manager;
  info.image_width = static_cast<JDIMENSION>(width);
  info.image_height = static_cast<JDIMENSION>(height);
  info.input_components = channels;
  info.in_color_space = channels == 1 ? JCS_GRAYSCALE : channels == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, quality, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    auto row = const_cast<JSAMPROW>(pixels + static_cast<size_t>(info.next_scanline) * static_cast<size_t>(width) *
                                                 static_cast<size_t>(channels));
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  return Outcome::Ok;
}

}  // namespace

bool jpeg_available() { return true; }

DecodedImage jpeg_decode(const std::string& bytes, const std::string& what, bool shrink) {
  CYG_INPUT_CHECK(looks_like_jpeg(bytes), "'", what, "' is not a JPEG file (it does not begin with FF D8 FF)");
  DecodedImage image;
  ErrorJump err{};
  switch (decode(&bytes, shrink, &image, &err)) {
    case Outcome::Ok:
      return image;
    case Outcome::Cmyk:
      throw Error(detail::concat("'", what,
                                 "' is a CMYK JPEG file; only grayscale and RGB (YCbCr) ones are read: save it as RGB"));
    case Outcome::TooLarge:
      throw Error(detail::concat("'", what, "': an image of ", image.width, "x", image.height, " pixels (at most ",
                                 kMostImagePixels, " pixels, and ", kMostImageSide, " a side, are read",
                                 shrink ? ", even at 1/8 of its size)" : ")"));
    case Outcome::NoMemory:
      throw std::bad_alloc();
    case Outcome::Warned:
      throw Error(detail::concat("'", what, "' is a damaged JPEG file: ", err.message));
    case Outcome::Error:
      break;
  }
  throw Error(detail::concat("'", what, "' could not be read as a JPEG file: ", err.message));
}

std::string jpeg_bytes(const uint8_t* pixels, int64_t width, int64_t height, int channels, int quality) {
  CYG_CHECK(width > 0 && height > 0 && width <= kMostImageSide && height <= kMostImageSide &&
                (channels == 1 || channels == 3 || channels == 4) && quality >= 1 && quality <= 100,
            "jpeg_bytes: ", width, "x", height, "x", channels, " at quality ", quality);
  Sink sink{};
  ErrorJump err{};
  const Outcome outcome = encode(pixels, width, height, channels, quality, &sink, &err);
  std::string out;
  if (outcome == Outcome::Ok) {
    const size_t size = sink.capacity - sink.manager.free_in_buffer;
    try {
      out.assign(reinterpret_cast<const char*>(sink.data), size);
    } catch (...) {
      std::free(sink.data);
      throw;
    }
  }
  std::free(sink.data);
  CYG_CHECK(outcome == Outcome::Ok, "libjpeg failed: ", err.message);
  return out;
}

#else  // no libjpeg in this build

bool jpeg_available() { return false; }

DecodedImage jpeg_decode(const std::string& bytes, const std::string& what, bool) {
  CYG_INPUT_CHECK(looks_like_jpeg(bytes), "'", what, "' is not a JPEG file (it does not begin with FF D8 FF)");
  throw Error(detail::concat("'", what,
                     "' is a JPEG file, and this build reads PNG only: install libjpeg-dev (scripts/install_deps.sh) "
                     "and build again"));
}

std::string jpeg_bytes(const uint8_t*, int64_t, int64_t, int, int) {
  throw Error("jpeg_bytes: this build has no libjpeg (install libjpeg-dev and build again)");
}

#endif

}  // namespace cyg::app
