/* Loading a checkpoint folder onto the device. */
#define G_LOG_DOMAIN "vf-model"

#include "vf_model.h"

#include "vf_memory_plan.h"

/* The context the fit check plans for when none is asked: the least vf_llm_create gives a model. */
#define FIT_CONTEXT 2048u

VfModel *
vf_model_load(VfDevice *dev, const char *dir, const VfLlmOptions *options, VfProgressFunc progress, void *user,
              GError **error)
{
  g_autofree char *name = NULL;
  VfModel *m = g_new0(VfModel, 1);
  m->dev = dev;
  m->dir = g_strdup(dir);
  m->config = vf_config_load(dir, error);
  if (!m->config)
    goto fail;
  /* Will it fit? Before any weight is read. */
  name = vf_memory_plan_model_name(dir);
  uint32_t context = options && options->context ? options->context : FIT_CONTEXT;
  if (!vf_memory_plan_check(m->config, name, context, vf_device_get_info(dev)->memory_budget, error))
    goto fail;
  m->weights = vf_weights_load(dev, m->config, dir, progress, user, error);
  if (!m->weights)
    goto fail;
  m->llm = vf_llm_create(dev, m->config, m->weights, options, error);
  if (!m->llm)
    goto fail;
  if (m->weights->blocks) {
    uint32_t patches = vf_memory_plan_vision_patches(m->config, vf_llm_context(m->llm));
    m->vision = vf_vision_create(dev, m->config, m->weights, patches, error);
    if (!m->vision)
      goto fail;
  }
  return m;
fail:
  vf_model_free(m);
  return NULL;
}

gboolean
vf_model_check(const char *dir, GError **error)
{
  g_autoptr(VfConfig) config = vf_config_load(dir, error);
  return config && vf_weights_check(config, dir, error);
}

void
vf_model_free(VfModel *m)
{
  if (!m)
    return;
  vf_vision_free(m->vision);
  vf_llm_free(m->llm);
  vf_weights_free(m->weights);
  vf_config_free(m->config);
  g_free(m->dir);
  g_free(m);
}
