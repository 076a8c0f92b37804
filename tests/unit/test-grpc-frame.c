/* SPDX-License-Identifier: GPL-2.0-or-later
 * Tests service/netbird/grpc-frame.c: framing codec, status mapping,
 * grpc-message percent coding. */
#include "config.h"

#include <string.h>

#include "grpc-frame.h"

static GBytes *
make_payload (gsize len, guint8 seed)
{
  guint8 *data = g_malloc (len ? len : 1);

  for (gsize i = 0; i < len; i++)
    data[i] = (guint8) (seed + i * 7);
  return g_bytes_new_take (data, len);
}

static void
test_encode_layout (void)
{
  g_autoptr (GBytes) payload = g_bytes_new_static ("\x08\x96\x01", 3);
  g_autoptr (GBytes) framed = nb_grpc_frame_encode (payload);
  static const guint8 expected[] = { 0, 0, 0, 0, 3, 0x08, 0x96, 0x01 };
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr (GBytes) framed_empty = nb_grpc_frame_encode (empty);
  static const guint8 expected_empty[] = { 0, 0, 0, 0, 0 };
  g_autoptr (GBytes) big = make_payload (0x012345, 1);
  g_autoptr (GBytes) framed_big = nb_grpc_frame_encode (big);
  const guint8 *b = g_bytes_get_data (framed_big, NULL);

  g_assert_cmpmem (g_bytes_get_data (framed, NULL), g_bytes_get_size (framed), expected, sizeof expected);
  g_assert_cmpmem (g_bytes_get_data (framed_empty, NULL), g_bytes_get_size (framed_empty),
                   expected_empty, sizeof expected_empty);
  g_assert_cmpuint (g_bytes_get_size (framed_big), ==, 5 + 0x012345);
  g_assert_cmpuint (b[0], ==, 0);
  g_assert_cmpuint (b[1], ==, 0x00);
  g_assert_cmpuint (b[2], ==, 0x01);
  g_assert_cmpuint (b[3], ==, 0x23);
  g_assert_cmpuint (b[4], ==, 0x45);
  g_assert_cmpmem (b + 5, 0x012345, g_bytes_get_data (big, NULL), 0x012345);
}

/* Several messages of assorted sizes, concatenated. */
static GByteArray *
make_stream (GPtrArray *messages)
{
  static const gsize sizes[] = { 0, 1, 4, 5, 6, 127, 128, 1000, 16384, 70000 };
  GByteArray *stream = g_byte_array_new ();

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      GBytes *m = make_payload (sizes[i], (guint8) i);

      nb_grpc_frame_append (stream, g_bytes_get_data (m, NULL), g_bytes_get_size (m));
      g_ptr_array_add (messages, m);
    }
  return stream;
}

static void
assert_decoded (NbGrpcFrameDecoder *decoder, GPtrArray *expected)
{
  for (guint i = 0; i < expected->len; i++)
    {
      g_autoptr (GBytes) got = nb_grpc_frame_decoder_pop (decoder);

      g_assert_nonnull (got);
      g_assert_true (g_bytes_equal (got, expected->pdata[i]));
    }
  g_assert_null (nb_grpc_frame_decoder_pop (decoder));
  g_assert_false (nb_grpc_frame_decoder_has_partial (decoder));
  g_assert_true (nb_grpc_frame_decoder_finish (decoder, NULL));
}

static void
test_roundtrip_whole (void)
{
  g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr (GByteArray) stream = make_stream (messages);
  g_autoptr (NbGrpcFrameDecoder) decoder = nb_grpc_frame_decoder_new (0);
  g_autoptr (GError) error = NULL;

  g_assert_true (nb_grpc_frame_decoder_feed (decoder, stream->data, stream->len, &error));
  g_assert_no_error (error);
  assert_decoded (decoder, messages);
}

static void
test_roundtrip_every_byte (void)
{
  g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr (GByteArray) stream = make_stream (messages);
  g_autoptr (NbGrpcFrameDecoder) decoder = nb_grpc_frame_decoder_new (1 << 20);

  for (guint i = 0; i < stream->len; i++)
    g_assert_true (nb_grpc_frame_decoder_feed (decoder, stream->data + i, 1, NULL));
  assert_decoded (decoder, messages);
}

/* Every split point of a small stream into two chunks, then three. */
static void
test_roundtrip_split_points (void)
{
  g_autoptr (GByteArray) stream = g_byte_array_new ();
  g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  static const gsize sizes[] = { 3, 0, 9, 1 };

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      GBytes *m = make_payload (sizes[i], (guint8) (i * 31));
      nb_grpc_frame_append (stream, g_bytes_get_data (m, NULL), g_bytes_get_size (m));
      g_ptr_array_add (messages, m);
    }

  for (guint a = 0; a <= stream->len; a++)
    for (guint b = a; b <= stream->len; b++)
      {
        g_autoptr (NbGrpcFrameDecoder) decoder = nb_grpc_frame_decoder_new (64);

        g_assert_true (nb_grpc_frame_decoder_feed (decoder, stream->data, a, NULL));
        g_assert_true (nb_grpc_frame_decoder_feed (decoder, stream->data + a, b - a, NULL));
        g_assert_true (nb_grpc_frame_decoder_feed (decoder, stream->data + b, stream->len - b, NULL));
        assert_decoded (decoder, messages);
      }
}

static void
test_partial_and_truncated (void)
{
  g_autoptr (NbGrpcFrameDecoder) decoder = nb_grpc_frame_decoder_new (0);
  g_autoptr (NbGrpcFrameDecoder) decoder2 = nb_grpc_frame_decoder_new (0);
  g_autoptr (GError) error = NULL;
  static const guint8 header_only[] = { 0, 0, 0, 0, 10, 'a', 'b' };

  /* Half a prefix. */
  g_assert_true (nb_grpc_frame_decoder_feed (decoder, header_only, 3, NULL));
  g_assert_true (nb_grpc_frame_decoder_has_partial (decoder));
  g_assert_null (nb_grpc_frame_decoder_pop (decoder));
  g_assert_false (nb_grpc_frame_decoder_finish (decoder, &error));
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL);
  g_clear_error (&error);

  /* Prefix and part of the payload. */
  g_assert_true (nb_grpc_frame_decoder_feed (decoder2, header_only, sizeof header_only, NULL));
  g_assert_true (nb_grpc_frame_decoder_has_partial (decoder2));
  g_assert_false (nb_grpc_frame_decoder_finish (decoder2, &error));
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL);
  g_assert_nonnull (strstr (error->message, "2 of 10"));
}

static void
test_max_size (void)
{
  g_autoptr (GByteArray) at = g_byte_array_new ();
  g_autoptr (GBytes) payload = make_payload (100, 5);
  g_autoptr (NbGrpcFrameDecoder) decoder = nb_grpc_frame_decoder_new (100);
  g_autoptr (NbGrpcFrameDecoder) over = nb_grpc_frame_decoder_new (99);
  g_autoptr (GBytes) got = NULL;
  g_autoptr (GError) error = NULL;
  static const guint8 huge[] = { 0, 0xff, 0xff, 0xff, 0xff };
  g_autoptr (NbGrpcFrameDecoder) unlimited = nb_grpc_frame_decoder_new (4 * 1024 * 1024);

  nb_grpc_frame_append (at, g_bytes_get_data (payload, NULL), 100);
  /* Exactly at the limit. */
  g_assert_true (nb_grpc_frame_decoder_feed (decoder, at->data, at->len, NULL));
  got = nb_grpc_frame_decoder_pop (decoder);
  g_assert_true (g_bytes_equal (got, payload));

  /* One over: rejected at the prefix, before any payload arrives. */
  g_assert_false (nb_grpc_frame_decoder_feed (over, at->data, 5, &error));
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_RESOURCE_EXHAUSTED);
  g_clear_error (&error);
  /* Sticky. */
  g_assert_false (nb_grpc_frame_decoder_feed (over, at->data + 5, 10, &error));
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_RESOURCE_EXHAUSTED);
  g_clear_error (&error);
  g_assert_false (nb_grpc_frame_decoder_finish (over, NULL));

  /* A 4 GiB announcement does not allocate. */
  g_assert_false (nb_grpc_frame_decoder_feed (unlimited, huge, sizeof huge, &error));
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_RESOURCE_EXHAUSTED);
}

static void
test_messages_before_error_kept (void)
{
  g_autoptr (GByteArray) stream = g_byte_array_new ();
  g_autoptr (NbGrpcFrameDecoder) decoder = nb_grpc_frame_decoder_new (10);
  g_autoptr (GBytes) first = NULL;
  g_autoptr (GError) error = NULL;

  nb_grpc_frame_append (stream, (const guint8 *) "ok", 2);
  nb_grpc_frame_append (stream, (const guint8 *) "this is too long", 16);
  g_assert_false (nb_grpc_frame_decoder_feed (decoder, stream->data, stream->len, &error));
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_RESOURCE_EXHAUSTED);
  first = nb_grpc_frame_decoder_pop (decoder);
  g_assert_nonnull (first);
  g_assert_cmpmem (g_bytes_get_data (first, NULL), g_bytes_get_size (first), "ok", 2);
  g_assert_null (nb_grpc_frame_decoder_pop (decoder));
}

static void
test_compressed_flag (void)
{
  static const guint8 compressed[] = { 1, 0, 0, 0, 1, 'x' };
  static const guint8 bad_flag[] = { 0x80, 0, 0, 0, 0 };
  g_autoptr (NbGrpcFrameDecoder) decoder = nb_grpc_frame_decoder_new (0);
  g_autoptr (NbGrpcFrameDecoder) decoder2 = nb_grpc_frame_decoder_new (0);
  g_autoptr (GError) error = NULL;

  /* Split so the flag arrives alone. */
  g_assert_true (nb_grpc_frame_decoder_feed (decoder, compressed, 1, NULL));
  g_assert_false (nb_grpc_frame_decoder_feed (decoder, compressed + 1, sizeof compressed - 1, &error));
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL);
  g_assert_nonnull (strstr (error->message, "compress"));
  g_clear_error (&error);
  g_assert_null (nb_grpc_frame_decoder_pop (decoder));

  g_assert_false (nb_grpc_frame_decoder_feed (decoder2, bad_flag, sizeof bad_flag, &error));
  g_assert_error (error, NB_GRPC_ERROR, NB_GRPC_STATUS_INTERNAL);
}

static void
test_status_names (void)
{
  static const char *const names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
  };

  G_STATIC_ASSERT (G_N_ELEMENTS (names) == NB_GRPC_STATUS_MAX + 1);
  for (int i = 0; i <= NB_GRPC_STATUS_MAX; i++)
    g_assert_cmpstr (nb_grpc_status_name (i), ==, names[i]);
  g_assert_null (nb_grpc_status_name (-1));
  g_assert_null (nb_grpc_status_name (17));
  g_assert_cmpint (NB_GRPC_STATUS_UNAVAILABLE, ==, 14);
  g_assert_cmpint (NB_GRPC_STATUS_UNAUTHENTICATED, ==, 16);
}

static void
test_status_parse (void)
{
  int code = -1;

  g_assert_true (nb_grpc_status_parse ("0", &code));
  g_assert_cmpint (code, ==, 0);
  g_assert_true (nb_grpc_status_parse ("14", &code));
  g_assert_cmpint (code, ==, 14);
  g_assert_true (nb_grpc_status_parse ("99", &code));
  g_assert_cmpint (code, ==, 99);
  g_assert_false (nb_grpc_status_parse ("", &code));
  g_assert_false (nb_grpc_status_parse (NULL, &code));
  g_assert_false (nb_grpc_status_parse ("-1", &code));
  g_assert_false (nb_grpc_status_parse (" 1", &code));
  g_assert_false (nb_grpc_status_parse ("1a", &code));
  g_assert_false (nb_grpc_status_parse ("0x1", &code));
  g_assert_false (nb_grpc_status_parse ("99999999999999999999", &code));
}

static void
test_error_from_status (void)
{
  g_autoptr (GError) e1 = nb_grpc_error_from_status (9, "peer%20id%20missing");
  g_autoptr (GError) e2 = nb_grpc_error_from_status (16, NULL);
  g_autoptr (GError) e3 = nb_grpc_error_from_status (42, "weird");
  g_autoptr (GError) e4 = nb_grpc_error_from_status (14, "");

  g_assert_null (nb_grpc_error_from_status (0, "ignored"));
  g_assert_error (e1, NB_GRPC_ERROR, NB_GRPC_STATUS_FAILED_PRECONDITION);
  g_assert_cmpstr (e1->message, ==, "peer id missing");
  g_assert_error (e2, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAUTHENTICATED);
  g_assert_cmpstr (e2->message, ==, "UNAUTHENTICATED");
  g_assert_error (e3, NB_GRPC_ERROR, NB_GRPC_STATUS_UNKNOWN);
  g_assert_nonnull (strstr (e3->message, "42"));
  g_assert_nonnull (strstr (e3->message, "weird"));
  g_assert_error (e4, NB_GRPC_ERROR, NB_GRPC_STATUS_UNAVAILABLE);
  g_assert_cmpstr (e4->message, ==, "UNAVAILABLE");
  g_assert_cmpstr (g_quark_to_string (NB_GRPC_ERROR), ==, "nb-grpc-error-quark");
}

static void
test_percent_decode (void)
{
  struct {
    const char *in;
    const char *out;
  } cases[] = {
    { "plain", "plain" },
    { "a%20b", "a b" },
    { "100%25", "100%" },
    { "caf%C3%A9 %E2%9C%93", "café ✓" },
    { "%c3%a9", "é" },                 /* lowercase hex */
    { "bad %zz escape", "bad %zz escape" }, /* kept literally */
    { "trailing %", "trailing %" },
    { "trailing %4", "trailing %4" },
    { "%", "%" },
    { "", "" },
    { "line%0Abreak", "line\nbreak" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *got = nb_grpc_percent_decode (cases[i].in, -1);
      g_assert_cmpstr (got, ==, cases[i].out);
    }

  {
    /* Invalid UTF-8 is replaced, the result is always valid UTF-8. */
    g_autofree char *got = nb_grpc_percent_decode ("x%FFy", -1);
    g_assert_true (g_utf8_validate (got, -1, NULL));
    g_assert_true (g_str_has_prefix (got, "x"));
    g_assert_true (g_str_has_suffix (got, "y"));
  }
  {
    /* Explicit length; NUL in the decoded text does not truncate silently. */
    g_autofree char *got = nb_grpc_percent_decode ("a%00bXXXX", 5);
    g_assert_cmpstr (got, ==, "a?b");
  }
  {
    g_autofree char *got = nb_grpc_percent_decode (NULL, -1);
    g_assert_cmpstr (got, ==, "");
  }
}

static void
test_percent_encode_roundtrip (void)
{
  const char *messages[] = { "simple", "déjà vu ✓ 100% done", "tab\tnew\nline", "", "%%%" };

  for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
    {
      g_autofree char *enc = nb_grpc_percent_encode (messages[i]);
      g_autofree char *dec = nb_grpc_percent_decode (enc, -1);

      for (const char *p = enc; *p; p++)
        g_assert_true (*p >= 0x20 && *p <= 0x7e);
      g_assert_cmpstr (dec, ==, messages[i]);
    }
  {
    g_autofree char *enc = nb_grpc_percent_encode ("a b%é");
    g_assert_cmpstr (enc, ==, "a b%25%C3%A9");
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/grpc-frame/encode-layout", test_encode_layout);
  g_test_add_func ("/grpc-frame/roundtrip-whole", test_roundtrip_whole);
  g_test_add_func ("/grpc-frame/roundtrip-every-byte", test_roundtrip_every_byte);
  g_test_add_func ("/grpc-frame/roundtrip-split-points", test_roundtrip_split_points);
  g_test_add_func ("/grpc-frame/partial-and-truncated", test_partial_and_truncated);
  g_test_add_func ("/grpc-frame/max-size", test_max_size);
  g_test_add_func ("/grpc-frame/messages-before-error-kept", test_messages_before_error_kept);
  g_test_add_func ("/grpc-frame/compressed-flag", test_compressed_flag);
  g_test_add_func ("/grpc-frame/status-names", test_status_names);
  g_test_add_func ("/grpc-frame/status-parse", test_status_parse);
  g_test_add_func ("/grpc-frame/error-from-status", test_error_from_status);
  g_test_add_func ("/grpc-frame/percent-decode", test_percent_decode);
  g_test_add_func ("/grpc-frame/percent-encode-roundtrip", test_percent_encode_roundtrip);

  return g_test_run ();
}
