// JPEG files through libjpeg (apps/common/jpeg.h).
#include "apps/common/jpeg.h"

#include "kernels/error.h"

#if CYGNET_HAVE_JPEG
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
// jpeglib.h needs size_t and FILE declared before it.
#include <jpeglib.h>
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
// warning (corrupt data that libjpeg would fill in) is recorded and made an error after.
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

void on_message(j_common_ptr info, int level) {
  auto* e = reinterpret_cast<ErrorJump*>(info->err);
  if (level < 0 && !e->warned) {  // a warning; levels 0 and up are trace messages
    (*info->err->format_message)(info, e->message);
    e->warned = true;
  }
}

// The outcome of one call into libjpeg, for the C++ caller to turn into an exception: no
// C++ object with a destructor lives in a frame that longjmp leaves.
enum class Outcome { Ok, Error, Warned, Cmyk, TooLarge };

// Decodes into `out`, which the caller owns: only pointers to it live in this frame.
Outcome decode(const std::string* bytes, DecodedImage* out, ErrorJump* err) {
  jpeg_decompress_struct info;
  info.err = jpeg_std_error(&err->manager);
  err->manager.error_exit = on_error;
  err->manager.emit_message = on_message;
  err->warned = false;
  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(&info);
    return Outcome::Error;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes->data()), static_cast<unsigned long>(bytes->size()));
  jpeg_read_header(&info, TRUE);
  if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&info);
    return Outcome::Cmyk;
  }
  info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  const auto width = static_cast<int64_t>(info.image_width), height = static_cast<int64_t>(info.image_height);
  out->width = width;
  out->height = height;
  if (width > kMostImageSide || height > kMostImageSide || width * height > kMostImagePixels) {
    jpeg_destroy_decompress(&info);
    return Outcome::TooLarge;
  }
  jpeg_start_decompress(&info);
  out->channels = info.output_components;
  out->pixels.resize(static_cast<size_t>(width * height * out->channels));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = out->pixels.data() + static_cast<size_t>(info.output_scanline) * static_cast<size_t>(width) *
                                            static_cast<size_t>(out->channels);
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return err->warned ? Outcome::Warned : Outcome::Ok;
}

Outcome encode(const uint8_t* pixels, int64_t width, int64_t height, int channels, int quality, std::string* out,
               ErrorJump* err) {
  jpeg_compress_struct info;
  info.err = jpeg_std_error(&err->manager);
  err->manager.error_exit = on_error;
  err->manager.emit_message = on_message;
  err->warned = false;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (setjmp(err->jump)) {
    jpeg_destroy_compress(&info);
    std::free(buffer);
    return Outcome::Error;
  }
  jpeg_create_compress(&info);
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = static_cast<JDIMENSION>(width);
  info.image_height = static_cast<JDIMENSION>(height);
  info.input_components = channels;
  info.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, quality, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    auto row = const_cast<JSAMPROW>(pixels + static_cast<size_t>(info.next_scanline) * static_cast<size_t>(width) *
                                                 static_cast<size_t>(channels));
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  out->assign(reinterpret_cast<const char*>(buffer), size);
  jpeg_destroy_compress(&info);
  std::free(buffer);
  return Outcome::Ok;
}

}  // namespace

bool jpeg_available() { return true; }

DecodedImage jpeg_decode(const std::string& bytes, const std::string& what) {
  CYG_INPUT_CHECK(looks_like_jpeg(bytes), "'", what, "' is not a JPEG file (it does not begin with FF D8 FF)");
  DecodedImage image;
  ErrorJump err{};
  switch (decode(&bytes, &image, &err)) {
    case Outcome::Ok:
      return image;
    case Outcome::Cmyk:
      throw Error(detail::concat("'", what, "' is a CMYK JPEG file; only grayscale and RGB (YCbCr) ones are read: save it as RGB"));
    case Outcome::TooLarge:
      throw Error(detail::concat("'", what, "': an image of ", image.width, "x", image.height, " pixels (at most ",
                         kMostImagePixels, " pixels, and ", kMostImageSide, " a side, are read)"));
    case Outcome::Warned:
      throw Error(detail::concat("'", what, "' is a damaged JPEG file: ", err.message));
    case Outcome::Error:
      break;
  }
  throw Error(detail::concat("'", what, "' could not be read as a JPEG file: ", err.message));
}

std::string jpeg_bytes(const uint8_t* pixels, int64_t width, int64_t height, int channels, int quality) {
  CYG_CHECK(width > 0 && height > 0 && width <= kMostImageSide && height <= kMostImageSide &&
                (channels == 1 || channels == 3) && quality >= 1 && quality <= 100,
            "jpeg_bytes: ", width, "x", height, "x", channels, " at quality ", quality);
  std::string out;
  ErrorJump err{};
  CYG_CHECK(encode(pixels, width, height, channels, quality, &out, &err) == Outcome::Ok, "libjpeg failed: ",
            err.message);
  return out;
}

#else  // no libjpeg in this build

bool jpeg_available() { return false; }

DecodedImage jpeg_decode(const std::string& bytes, const std::string& what) {
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
