#include "vf_pretokenizer.h"

#include <glib.h>
#include <stdint.h>

const char vf_qwen2_split_pattern[] =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
  "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Character classes of the pattern, as bit flags. A character with none of LETTER, NUMBER, SPACE is what
 * the pattern calls [^\s\p{L}\p{N}] ("punctuation" below). */
enum {
  CLASS_LETTER = 1 << 0, /* \p{L} */
  CLASS_NUMBER = 1 << 1, /* \p{N} */
  CLASS_SPACE = 1 << 2,  /* \s */
  CLASS_CRLF = 1 << 3,   /* [\r\n] */
};

static gboolean
is_white_space(gunichar c)
{
  /* The Unicode White_Space property (stable since Unicode 6.3). */
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

static uint8_t
unicode_class(gunichar c)
{
  if (is_white_space(c))
    return CLASS_SPACE | ((c == '\r' || c == '\n') ? CLASS_CRLF : 0);
  switch (g_unichar_type(c)) {
  case G_UNICODE_UPPERCASE_LETTER:
  case G_UNICODE_LOWERCASE_LETTER:
  case G_UNICODE_TITLECASE_LETTER:
  case G_UNICODE_MODIFIER_LETTER:
  case G_UNICODE_OTHER_LETTER:
    return CLASS_LETTER;
  case G_UNICODE_DECIMAL_NUMBER:
  case G_UNICODE_LETTER_NUMBER:
  case G_UNICODE_OTHER_NUMBER:
    return CLASS_NUMBER;
  default:
    return 0;
  }
}

static uint8_t ascii_class[128];

static void
init_ascii_classes(void)
{
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    for (gunichar c = 0; c < 128; c++)
      ascii_class[c] = unicode_class(c);
    g_once_init_leave(&once, 1);
  }
}

/* The text decoded once: code point i starts at byte offset[i] (offset[n] = length). */
typedef struct {
  const gunichar *cp;
  const uint8_t *cls;
  size_t n;
} Chars;

/* Simple case folding onto the ASCII letters of the contractions; U+017F LATIN SMALL LETTER LONG S folds
 * to 's' under (?i) in both Oniguruma and Python's regex module. */
static gunichar
fold_contraction_letter(gunichar c)
{
  if (c >= 'A' && c <= 'Z')
    return c + ('a' - 'A');
  if (c == 0x17F)
    return 's';
  return c;
}

static size_t
letters_end(const Chars *t, size_t i)
{
  while (i < t->n && (t->cls[i] & CLASS_LETTER))
    i++;
  return i;
}

static gboolean
is_punctuation(const Chars *t, size_t i)
{
  return i < t->n && !(t->cls[i] & (CLASS_LETTER | CLASS_NUMBER | CLASS_SPACE));
}

/* End (exclusive, in code points) of the match that starts at i. */
static size_t
match_end(const Chars *t, size_t i)
{
  const gunichar *cp = t->cp;
  const uint8_t *cls = t->cls;
  size_t n = t->n;

  /* 1. (?i:'s|'t|'re|'ve|'m|'ll|'d) */
  if (cp[i] == '\'' && i + 1 < n) {
    gunichar a = fold_contraction_letter(cp[i + 1]);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
      return i + 2;
    if (i + 2 < n) {
      gunichar b = fold_contraction_letter(cp[i + 2]);
      if (((a == 'r' || a == 'v') && b == 'e') || (a == 'l' && b == 'l'))
        return i + 3;
    }
  }

  /* 2. [^\r\n\p{L}\p{N}]?\p{L}+ */
  if (cls[i] & CLASS_LETTER)
    return letters_end(t, i);
  if (!(cls[i] & (CLASS_CRLF | CLASS_NUMBER)) && i + 1 < n && (cls[i + 1] & CLASS_LETTER))
    return letters_end(t, i + 1);

  /* 3. \p{N} */
  if (cls[i] & CLASS_NUMBER)
    return i + 1;

  /* 4. " ?[^\s\p{L}\p{N}]+[\r\n]*" */
  size_t p = i;
  if (cp[i] == ' ' && is_punctuation(t, i + 1))
    p = i + 1;
  if (is_punctuation(t, p)) {
    while (is_punctuation(t, p))
      p++;
    while (p < n && (cls[p] & CLASS_CRLF))
      p++;
    return p;
  }

  /* Only white space is left: every other character matched above. */
  g_assert(cls[i] & CLASS_SPACE);
  size_t run_end = i;
  while (run_end < n && (cls[run_end] & CLASS_SPACE))
    run_end++;

  /* 5. \s*[\r\n]+ : \s* backs off until [\r\n]+ can match, i.e. the match ends after the run's last
   * CR/LF. */
  for (size_t k = run_end; k > i; k--)
    if (cls[k - 1] & CLASS_CRLF)
      return k;

  /* 6. \s+(?!\S) : the whole run at the end of the text, else all of it but the last character (which
   * then prefixes the next word). */
  if (run_end == n)
    return n;
  if (run_end - i >= 2)
    return run_end - 1;

  /* 7. \s+ */
  return run_end;
}

void
vf_qwen2_split(const char *text, size_t len, VfWordFunc func, void *user_data)
{
  init_ascii_classes();

  /* Decode once into code points, their classes and byte offsets. */
  gunichar stack_cp[256];
  uint8_t stack_cls[256];
  uint32_t stack_off[257];
  gunichar *cp = stack_cp;
  uint8_t *cls = stack_cls;
  uint32_t *off = stack_off;
  if (len > 256) {
    cp = g_new(gunichar, len);
    cls = g_new(uint8_t, len);
    off = g_new(uint32_t, len + 1);
  }
  g_assert(len < UINT32_MAX);

  size_t n = 0;
  for (const char *s = text, *end = text + len; s < end; n++) {
    off[n] = (uint32_t)(s - text);
    uint8_t b = (uint8_t)*s;
    if (b < 0x80) {
      cp[n] = b;
      cls[n] = ascii_class[b];
      s++;
    } else {
      cp[n] = g_utf8_get_char(s);
      cls[n] = unicode_class(cp[n]);
      s = g_utf8_next_char(s);
    }
  }
  off[n] = (uint32_t)len;

  Chars t = {.cp = cp, .cls = cls, .n = n};
  for (size_t i = 0; i < n;) {
    size_t end = match_end(&t, i);
    func(text + off[i], off[end] - off[i], user_data);
    i = end;
  }

  if (cp != stack_cp) {
    g_free(cp);
    g_free(cls);
    g_free(off);
  }
}
