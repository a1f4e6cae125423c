/* The kept conversations as the window's side pane. See vf_sidebar.h. */
#define G_LOG_DOMAIN "vf-sidebar"

#include "vf_sidebar.h"

/* ---- a row's data ----------------------------------------------------------------------------------------- */

#define VF_TYPE_SIDEBAR_ITEM (vf_sidebar_item_get_type())
G_DECLARE_FINAL_TYPE(VfSidebarItem, vf_sidebar_item, VF, SIDEBAR_ITEM, GObject)

struct _VfSidebarItem {
  GObject parent_instance;
  gint64 id;
  char *title;
  char *detail; /* "14:03 · Qwen2-VL-2B-Instruct" */
};

G_DEFINE_FINAL_TYPE(VfSidebarItem, vf_sidebar_item, G_TYPE_OBJECT)

static void
vf_sidebar_item_finalize(GObject *object)
{
  VfSidebarItem *self = VF_SIDEBAR_ITEM(object);
  g_free(self->title);
  g_free(self->detail);
  G_OBJECT_CLASS(vf_sidebar_item_parent_class)->finalize(object);
}

static void vf_sidebar_item_class_init(VfSidebarItemClass *klass) { G_OBJECT_CLASS(klass)->finalize = vf_sidebar_item_finalize; }
static void vf_sidebar_item_init(VfSidebarItem *self) {}

/* When it was last changed: the time today, the day this year, else the date; then the model of its answers. */
static char *
describe(const VfHistoryConversation *c)
{
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_local(c->updated_us / G_USEC_PER_SEC);
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  const char *format = g_date_time_get_year(when) != g_date_time_get_year(now)           ? "%e %b %Y"
                       : g_date_time_get_day_of_year(when) != g_date_time_get_day_of_year(now) ? "%e %b"
                                                                                              : "%H:%M";
  g_autofree char *date = when ? g_date_time_format(when, format) : g_strdup("");
  g_strstrip(date);
  return c->model ? g_strdup_printf("%s · %s", date, c->model) : g_steal_pointer(&date);
}

/* ---- the sidebar ------------------------------------------------------------------------------------------- */

struct _VfSidebar {
  GtkWidget parent_instance;

  AdwToastOverlay *toast_overlay;
  GtkSearchEntry *search_entry;
  GtkStack *stack;
  GtkListView *list_view;
  AdwStatusPage *error_page;

  VfHistory *history;
  GListStore *rows;           /* VfSidebarItem, newest first */
  GtkSingleSelection *selection;
  gint64 current;
  gint64 pending_delete;      /* hidden, deleted when its toast goes; 0: none */
  AdwToast *pending_toast;
};

G_DEFINE_FINAL_TYPE(VfSidebar, vf_sidebar, GTK_TYPE_WIDGET)

enum {
  SIGNAL_CONVERSATION_ACTIVATED,
  SIGNAL_CONVERSATION_DELETED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

static void
show_error(VfSidebar *self, const char *message)
{
  adw_status_page_set_description(self->error_page, message);
  gtk_stack_set_visible_child_name(self->stack, "error");
}

static void
select_current(VfSidebar *self)
{
  guint n = g_list_model_get_n_items(G_LIST_MODEL(self->rows));
  for (guint i = 0; i < n; i++) {
    g_autoptr(VfSidebarItem) item = g_list_model_get_item(G_LIST_MODEL(self->rows), i);
    if (item->id == self->current) {
      gtk_single_selection_set_selected(self->selection, i);
      return;
    }
  }
  gtk_single_selection_set_selected(self->selection, GTK_INVALID_LIST_POSITION);
}

void
vf_sidebar_reload(VfSidebar *self)
{
  g_return_if_fail(VF_IS_SIDEBAR(self));
  if (!self->history)
    return;
  const char *search = gtk_editable_get_text(GTK_EDITABLE(self->search_entry));
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = vf_history_list(self->history, search, &error);
  if (!list) {
    show_error(self, error->message);
    return;
  }
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_object_unref);
  for (guint i = 0; i < list->len; i++) {
    const VfHistoryConversation *c = list->pdata[i];
    if (c->id == self->pending_delete)
      continue;
    VfSidebarItem *item = g_object_new(VF_TYPE_SIDEBAR_ITEM, NULL);
    item->id = c->id;
    item->title = g_strdup(c->title);
    item->detail = describe(c);
    g_ptr_array_add(items, item);
  }
  g_list_store_splice(self->rows, 0, g_list_model_get_n_items(G_LIST_MODEL(self->rows)), items->pdata, items->len);
  select_current(self);
  gtk_stack_set_visible_child_name(self->stack, items->len ? "list" : *search ? "no-results" : "empty");
}

gboolean
vf_sidebar_open(VfSidebar *self, const char *dir, GError **error)
{
  g_return_val_if_fail(VF_IS_SIDEBAR(self), FALSE);
  g_autoptr(GError) local = NULL;
  g_clear_pointer(&self->history, vf_history_close);
  /* The engine opened (and, if need be, put aside) the same file first: the notice was its to give. */
  self->history = vf_history_open(dir, NULL, &local);
  if (!self->history) {
    show_error(self, local->message);
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  vf_sidebar_reload(self);
  return TRUE;
}

VfHistory *vf_sidebar_get_history(VfSidebar *self) { return self->history; }

void
vf_sidebar_set_current(VfSidebar *self, gint64 conversation)
{
  g_return_if_fail(VF_IS_SIDEBAR(self));
  self->current = conversation;
  select_current(self);
}

gint64 vf_sidebar_get_current(VfSidebar *self) { return self->current; }

void
vf_sidebar_set_search(VfSidebar *self, const char *text)
{
  gtk_editable_set_text(GTK_EDITABLE(self->search_entry), text ? text : "");
  vf_sidebar_reload(self); /* at once, not after the entry's delay */
}

static void
on_search_changed(VfSidebar *self)
{
  vf_sidebar_reload(self);
}

guint vf_sidebar_get_n_rows(VfSidebar *self) { return g_list_model_get_n_items(G_LIST_MODEL(self->rows)); }

static VfSidebarItem *
row(VfSidebar *self, guint index)
{
  g_return_val_if_fail(index < vf_sidebar_get_n_rows(self), NULL);
  VfSidebarItem *item = g_list_model_get_item(G_LIST_MODEL(self->rows), index);
  g_object_unref(item); /* the store keeps it */
  return item;
}

gint64 vf_sidebar_get_row_id(VfSidebar *self, guint index) { return row(self, index)->id; }
const char *vf_sidebar_get_row_title(VfSidebar *self, guint index) { return row(self, index)->title; }
guint vf_sidebar_get_selected_row(VfSidebar *self) { return gtk_single_selection_get_selected(self->selection); }
const char *vf_sidebar_get_state(VfSidebar *self) { return gtk_stack_get_visible_child_name(self->stack); }

static void
on_row_activated(VfSidebar *self, guint position)
{
  g_signal_emit(self, signals[SIGNAL_CONVERSATION_ACTIVATED], 0, row(self, position)->id);
}

void
vf_sidebar_activate_row(VfSidebar *self, guint position)
{
  g_return_if_fail(position < vf_sidebar_get_n_rows(self));
  on_row_activated(self, position);
}

/* ---- rename ------------------------------------------------------------------------------------------------- */

gboolean
vf_sidebar_rename(VfSidebar *self, gint64 conversation, const char *title, GError **error)
{
  g_autofree char *trimmed = g_strstrip(g_strdup(title));
  if (!*trimmed) {
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "A title cannot be empty");
    return FALSE;
  }
  if (!vf_history_rename(self->history, conversation, trimmed, error))
    return FALSE;
  vf_sidebar_reload(self);
  return TRUE;
}

static void
on_rename_response(AdwMessageDialog *dialog, const char *response, VfSidebar *self)
{
  if (!g_str_equal(response, "rename"))
    return;
  GtkEditable *entry = GTK_EDITABLE(adw_message_dialog_get_extra_child(dialog));
  gint64 conversation = GPOINTER_TO_SIZE(g_object_get_data(G_OBJECT(dialog), "conversation"));
  g_autoptr(GError) error = NULL;
  if (!vf_sidebar_rename(self, conversation, gtk_editable_get_text(entry), &error))
    adw_toast_overlay_add_toast(self->toast_overlay, adw_toast_new(error->message));
}

static void
rename_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfSidebar *self = VF_SIDEBAR(widget);
  gint64 conversation = g_variant_get_int64(parameter);
  const char *title = "";
  for (guint i = 0; i < vf_sidebar_get_n_rows(self); i++)
    if (row(self, i)->id == conversation)
      title = row(self, i)->title;
  GtkWidget *dialog = adw_message_dialog_new(GTK_WINDOW(gtk_widget_get_root(widget)), "Rename Conversation", NULL);
  GtkWidget *entry = gtk_entry_new();
  gtk_editable_set_text(GTK_EDITABLE(entry), title);
  gtk_entry_set_activates_default(GTK_ENTRY(entry), TRUE);
  adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(dialog), entry);
  adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel", "_Cancel", "rename", "_Rename", NULL);
  adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "rename", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "rename");
  g_object_set_data(G_OBJECT(dialog), "conversation", GSIZE_TO_POINTER((gsize)conversation));
  g_signal_connect(dialog, "response", G_CALLBACK(on_rename_response), self);
  gtk_window_present(GTK_WINDOW(dialog));
}

/* ---- delete with undo --------------------------------------------------------------------------------------- */

void
vf_sidebar_commit_delete(VfSidebar *self)
{
  if (!self->pending_delete)
    return;
  gint64 conversation = self->pending_delete;
  self->pending_delete = 0;
  g_autoptr(GError) error = NULL;
  if (!vf_history_delete(self->history, conversation, &error))
    adw_toast_overlay_add_toast(self->toast_overlay, adw_toast_new(error->message));
  if (self->pending_toast) {
    g_signal_handlers_disconnect_by_data(self->pending_toast, self);
    g_clear_object(&self->pending_toast);
  }
}

static void
on_toast_dismissed(AdwToast *toast, VfSidebar *self)
{
  vf_sidebar_commit_delete(self);
}

void
vf_sidebar_delete(VfSidebar *self, gint64 conversation)
{
  g_return_if_fail(VF_IS_SIDEBAR(self));
  vf_sidebar_commit_delete(self); /* one undo at a time: an earlier delete happens now */
  const char *title = NULL;
  for (guint i = 0; i < vf_sidebar_get_n_rows(self); i++)
    if (row(self, i)->id == conversation)
      title = row(self, i)->title;
  g_autofree char *text = g_strdup_printf("“%s” deleted", title ? title : "Conversation");
  self->pending_delete = conversation;
  vf_sidebar_reload(self);
  AdwToast *toast = adw_toast_new(text);
  adw_toast_set_button_label(toast, "_Undo");
  adw_toast_set_action_name(toast, "sidebar.undo");
  adw_toast_set_timeout(toast, 8);
  self->pending_toast = g_object_ref(toast);
  g_signal_connect(toast, "dismissed", G_CALLBACK(on_toast_dismissed), self);
  adw_toast_overlay_add_toast(self->toast_overlay, toast);
  g_signal_emit(self, signals[SIGNAL_CONVERSATION_DELETED], 0, conversation);
}

void
vf_sidebar_undo_delete(VfSidebar *self)
{
  if (!self->pending_delete)
    return;
  self->pending_delete = 0;
  if (self->pending_toast) {
    g_signal_handlers_disconnect_by_data(self->pending_toast, self);
    adw_toast_dismiss(self->pending_toast);
    g_clear_object(&self->pending_toast);
  }
  vf_sidebar_reload(self);
}

static void
delete_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  vf_sidebar_delete(VF_SIDEBAR(widget), g_variant_get_int64(parameter));
}

static void
undo_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  vf_sidebar_undo_delete(VF_SIDEBAR(widget));
}

/* ---- rows --------------------------------------------------------------------------------------------------- */

static void
setup_row(GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *labels = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
  gtk_widget_set_hexpand(labels, TRUE);
  GtkWidget *title = gtk_label_new(NULL), *detail = gtk_label_new(NULL);
  for (GtkWidget *const *label = (GtkWidget *const[]){title, detail, NULL}; *label; label++) {
    gtk_label_set_xalign(GTK_LABEL(*label), 0);
    gtk_label_set_ellipsize(GTK_LABEL(*label), PANGO_ELLIPSIZE_END);
    gtk_box_append(GTK_BOX(labels), *label);
  }
  gtk_widget_add_css_class(detail, "dim-label");
  gtk_widget_add_css_class(detail, "caption");
  GtkWidget *menu = gtk_menu_button_new();
  gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(menu), "view-more-symbolic");
  gtk_widget_add_css_class(menu, "flat");
  gtk_widget_set_valign(menu, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text(menu, "Rename or delete");
  gtk_box_append(GTK_BOX(box), labels);
  gtk_box_append(GTK_BOX(box), menu);
  gtk_list_item_set_child(list_item, box);
}

static void
bind_row(GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  VfSidebarItem *item = gtk_list_item_get_item(list_item);
  GtkWidget *box = gtk_list_item_get_child(list_item);
  GtkWidget *labels = gtk_widget_get_first_child(box), *menu = gtk_widget_get_last_child(box);
  gtk_label_set_text(GTK_LABEL(gtk_widget_get_first_child(labels)), item->title);
  gtk_label_set_text(GTK_LABEL(gtk_widget_get_last_child(labels)), item->detail);
  g_autoptr(GMenu) model = g_menu_new();
  g_autoptr(GMenuItem) rename = g_menu_item_new("_Rename…", NULL);
  g_menu_item_set_action_and_target_value(rename, "sidebar.rename", g_variant_new_int64(item->id));
  g_menu_append_item(model, rename);
  g_autoptr(GMenuItem) delete = g_menu_item_new("_Delete", NULL);
  g_menu_item_set_action_and_target_value(delete, "sidebar.delete", g_variant_new_int64(item->id));
  g_menu_append_item(model, delete);
  gtk_menu_button_set_menu_model(GTK_MENU_BUTTON(menu), G_MENU_MODEL(model));
}

static void
vf_sidebar_dispose(GObject *object)
{
  VfSidebar *self = VF_SIDEBAR(object);
  if (self->history)
    vf_sidebar_commit_delete(self);
  gtk_widget_dispose_template(GTK_WIDGET(self), VF_TYPE_SIDEBAR);
  G_OBJECT_CLASS(vf_sidebar_parent_class)->dispose(object);
}

static void
vf_sidebar_finalize(GObject *object)
{
  VfSidebar *self = VF_SIDEBAR(object);
  g_clear_object(&self->selection);
  g_clear_pointer(&self->history, vf_history_close);
  G_OBJECT_CLASS(vf_sidebar_parent_class)->finalize(object);
}

static void
vf_sidebar_class_init(VfSidebarClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->dispose = vf_sidebar_dispose;
  object_class->finalize = vf_sidebar_finalize;

  gtk_widget_class_set_template_from_resource(widget_class, "/org/viewfinder/Viewfinder/ui/vf_sidebar.ui");
  gtk_widget_class_bind_template_child(widget_class, VfSidebar, toast_overlay);
  gtk_widget_class_bind_template_child(widget_class, VfSidebar, search_entry);
  gtk_widget_class_bind_template_child(widget_class, VfSidebar, stack);
  gtk_widget_class_bind_template_child(widget_class, VfSidebar, list_view);
  gtk_widget_class_bind_template_child(widget_class, VfSidebar, error_page);
  gtk_widget_class_bind_template_callback(widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback(widget_class, on_row_activated);
  gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BIN_LAYOUT);

  gtk_widget_class_install_action(widget_class, "sidebar.rename", "x", rename_activated);
  gtk_widget_class_install_action(widget_class, "sidebar.delete", "x", delete_activated);
  gtk_widget_class_install_action(widget_class, "sidebar.undo", NULL, undo_activated);

  /* A row was clicked (or Enter pressed on it): the window opens that conversation. */
  signals[SIGNAL_CONVERSATION_ACTIVATED] =
    g_signal_new("conversation-activated", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                 G_TYPE_NONE, 1, G_TYPE_INT64);
  /* A conversation left the list (its Undo toast is showing): the window starts a new chat if it was open. */
  signals[SIGNAL_CONVERSATION_DELETED] =
    g_signal_new("conversation-deleted", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                 G_TYPE_NONE, 1, G_TYPE_INT64);
}

static void
vf_sidebar_init(VfSidebar *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  self->rows = g_list_store_new(VF_TYPE_SIDEBAR_ITEM);
  self->selection = gtk_single_selection_new(G_LIST_MODEL(self->rows)); /* takes the store */
  gtk_single_selection_set_autoselect(self->selection, FALSE);
  gtk_single_selection_set_can_unselect(self->selection, TRUE);
  gtk_list_view_set_model(self->list_view, GTK_SELECTION_MODEL(self->selection));
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new();
  g_signal_connect(factory, "setup", G_CALLBACK(setup_row), NULL);
  g_signal_connect(factory, "bind", G_CALLBACK(bind_row), NULL);
  gtk_list_view_set_factory(self->list_view, factory);
  g_object_unref(factory);
  gtk_stack_set_visible_child_name(self->stack, "empty");
}

GtkWidget *
vf_sidebar_new(void)
{
  return g_object_new(VF_TYPE_SIDEBAR, NULL);
}
