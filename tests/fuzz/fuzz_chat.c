/* Conversations in the JSON message form (vf_chat_from_json_data), rendered with the chat template in every
 * flag combination and tokenized with the real vocabulary. Media are counted, never opened (a fuzzed source
 * may name any file). Errors are fine; crashes, leaks and undefined behaviour are not. */
#include <string.h>

#include "fuzz_common.h"
#include "vf_chat_json.h"
#include "vf_chat_template.h"
#include "vf_tokenizer.h"

static VfTokenizer *tok;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!tok)
    tok = fuzz_tokenizer();
  g_autofree char *json = fuzz_string(data, size);
  GError *error = NULL;
  VfChat *chat = vf_chat_from_json_data(json, &error);
  if (chat) {
    uint32_t images, videos;
    vf_chat_count_media(chat, &images, &videos);
    for (int flags = 0; flags < 4; flags++) {
      size_t len, n;
      char *text = vf_chat_template_render(chat, (VfChatTemplateFlags)flags, &len);
      g_assert(strlen(text) <= len);
      int32_t *ids = vf_tokenizer_encode_len(tok, text, len, &n);
      g_free(ids);
      g_free(text);
    }
    vf_chat_free(chat);
  }
  g_clear_error(&error);
  return 0;
}
