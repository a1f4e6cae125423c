/* An HTTP(S) server on 127.0.0.1 in a thread of its own, for tests that need a real server to talk to.
 * Handlers run on the server's thread (its own GMainContext), so the test thread can block in a client. */
#pragma once

#include <libsoup/soup.h>

typedef struct VfTestServer VfTestServer;

/* certificate: NULL for http. The server listens on a free port of 127.0.0.1 before this returns. */
VfTestServer *vf_test_server_start(GTlsCertificate *certificate, SoupServerCallback handler, gpointer user);
guint vf_test_server_port(VfTestServer *server);
/* "http://127.0.0.1:PORT" + path */
char *vf_test_server_url(VfTestServer *server, const char *path);
void vf_test_server_stop(VfTestServer *server);
