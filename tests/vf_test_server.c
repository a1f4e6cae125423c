/* See vf_test_server.h. */
#include "vf_test_server.h"

struct VfTestServer {
  GTlsCertificate *certificate; /* NULL: http */
  SoupServerCallback handler;
  gpointer user;
  GMutex lock;
  GCond cond;
  guint port; /* 0 until the server listens */
  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;
};

static gpointer
server_thread(gpointer data)
{
  VfTestServer *ts = data;
  g_main_context_push_thread_default(ts->context);
  SoupServer *server = soup_server_new("tls-certificate", ts->certificate, NULL);
  soup_server_add_handler(server, NULL, ts->handler, ts->user, NULL);
  g_autoptr(GError) error = NULL;
  SoupServerListenOptions options = SOUP_SERVER_LISTEN_IPV4_ONLY | (ts->certificate ? SOUP_SERVER_LISTEN_HTTPS : 0);
  g_assert_true(soup_server_listen_local(server, 0, options, &error)); /* 0: a free port */
  g_assert_no_error(error);
  GSList *uris = soup_server_get_uris(server);
  g_mutex_lock(&ts->lock);
  ts->port = (guint)g_uri_get_port(uris->data);
  g_cond_signal(&ts->cond);
  g_mutex_unlock(&ts->lock);
  g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);

  g_main_loop_run(ts->loop);

  soup_server_disconnect(server);
  g_object_unref(server);
  while (g_main_context_iteration(ts->context, FALSE)) /* the closing connections' last callbacks */
    ;
  g_main_context_pop_thread_default(ts->context);
  return NULL;
}

VfTestServer *
vf_test_server_start(GTlsCertificate *certificate, SoupServerCallback handler, gpointer user)
{
  VfTestServer *ts = g_new0(VfTestServer, 1);
  ts->certificate = certificate;
  ts->handler = handler;
  ts->user = user;
  g_mutex_init(&ts->lock);
  g_cond_init(&ts->cond);
  ts->context = g_main_context_new();
  ts->loop = g_main_loop_new(ts->context, FALSE);
  ts->thread = g_thread_new("test-http-server", server_thread, ts);
  g_mutex_lock(&ts->lock);
  while (!ts->port)
    g_cond_wait(&ts->cond, &ts->lock);
  g_mutex_unlock(&ts->lock);
  return ts;
}

guint
vf_test_server_port(VfTestServer *ts)
{
  return ts->port;
}

char *
vf_test_server_url(VfTestServer *ts, const char *path)
{
  return g_strdup_printf("%s://127.0.0.1:%u%s", ts->certificate ? "https" : "http", ts->port, path);
}

static gboolean
quit_loop(gpointer loop)
{
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

void
vf_test_server_stop(VfTestServer *ts)
{
  g_main_context_invoke(ts->context, quit_loop, ts->loop);
  g_thread_join(ts->thread);
  g_main_loop_unref(ts->loop);
  g_main_context_unref(ts->context); /* destroys sources a handler left running */
  g_mutex_clear(&ts->lock);
  g_cond_clear(&ts->cond);
  g_free(ts);
}
