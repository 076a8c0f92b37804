/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nm-netbird-auth-dialog: what a NetworkManager secret agent (GNOME Shell,
 * nm-applet, nmcli --ask) runs to get a NetBird connection's secrets.
 *
 * Protocol (NetworkManager's VPN auth-dialog convention): the agent passes
 * -u UUID -n NAME -s SERVICE [-i] [-r] [-t HINT]... [--external-ui-mode],
 * writes the connection's vpn.data and the secrets it already has to stdin
 * (DATA_KEY=/DATA_VAL=/SECRET_KEY=/SECRET_VAL= lines, then DONE) and reads
 * the answer from stdout:
 *   - normally "KEY\nVALUE\n" per secret, then an empty line pair; the agent
 *     then writes QUIT, which we wait for so that it can read everything;
 *   - with --external-ui-mode a keyfile ([VPN Plugin UI] Version, Title,
 *     Description, and per secret a group with Value, Label, IsSecret,
 *     ShouldAsk) that the agent turns into its own prompt.
 *
 * We ask for as little as possible. The setup key is needed unless its
 * flags say NOT_REQUIRED (the service stops asking for it once the peer is
 * registered, and says so with hints); it comes from the secrets the agent
 * passed, else from the user's keyring (NetworkManager's libsecret schema,
 * as agents store agent-owned secrets), else from the user, and only when
 * interaction is allowed. The pre-shared key is optional: returned when we
 * have it, asked for only when hinted or when it is set to "ask every time".
 *
 * Secrets never reach argv, the environment, or a log line.
 */
#define G_LOG_DOMAIN "nb-auth-dialog"

#include "config.h"

#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>
#include <gtk/gtk.h>
#include <libsecret/secret.h>
#include <nma-vpn-password-dialog.h>
#include <NetworkManager.h>

#include "nm-netbird-settings.h"

#define UI_KEYFILE_GROUP "VPN Plugin UI"
#define VPN_MESSAGE_HINT "x-vpn-message:"
#define QUIT_WAIT_MS (20 * 1000)

/* NetworkManager's schema for connection secrets in the keyring. */
static const SecretSchema nm_connection_schema = {
  "org.freedesktop.NetworkManager.Connection",
  SECRET_SCHEMA_DONT_MATCH_NAME,
  {
    { "connection-uuid", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { "setting-name", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { "setting-key", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { NULL, 0 },
  },
};

typedef struct {
  const char *key;
  const char *label;            /* for the external UI (no mnemonic) */
  const char *dialog_label;     /* for our dialog (with mnemonic) */
  NMSettingSecretFlags flags;
  gboolean needed;              /* must be in the answer */
  gboolean wanted;              /* worth returning when we have it */
  char *value;                  /* existing or entered; wiped on free */
  gboolean ask;
} Secret;

enum { SECRET_SETUP_KEY, SECRET_PRESHARED_KEY, N_SECRETS };

static void
secret_clear_value (Secret *secret)
{
  if (secret->value == NULL)
    return;
  explicit_bzero (secret->value, strlen (secret->value));
  g_clear_pointer (&secret->value, g_free);
}

static char *
keyring_lookup (const char *uuid, const char *key)
{
  g_autoptr (GError) error = NULL;
  char *value;

  value = secret_password_lookup_nonpageable_sync (&nm_connection_schema, NULL, &error,
                                                   "connection-uuid", uuid,
                                                   "setting-name", NM_SETTING_VPN_SETTING_NAME,
                                                   "setting-key", key,
                                                   NULL);
  if (error != NULL)
    g_debug ("no keyring lookup for %s: %s", key, error->message);
  if (value == NULL)
    return NULL;
  /* Back into ordinary memory, which our secret handling wipes itself. */
  {
    char *copy = g_strdup (value);

    secret_password_free (value);
    return copy;
  }
}

/* Decides what is needed and what is worth returning. Hints from the
 * service override the guesswork: they name exactly what it lacks. */
static char *
decide_needed (Secret secrets[N_SECRETS], GHashTable *data, char **hints)
{
  char *prompt = NULL;
  gboolean hinted = FALSE;

  for (guint i = 0; i < N_SECRETS; i++)
    {
      secrets[i].flags = NM_SETTING_SECRET_FLAG_NONE;
      nm_vpn_service_plugin_get_secret_flags (data, secrets[i].key, &secrets[i].flags);
    }

  for (char **hint = hints; hint && *hint; hint++)
    {
      if (g_str_has_prefix (*hint, VPN_MESSAGE_HINT))
        {
          if (prompt == NULL)
            prompt = g_strdup (*hint + strlen (VPN_MESSAGE_HINT));
          continue;
        }
      for (guint i = 0; i < N_SECRETS; i++)
        if (g_str_equal (*hint, secrets[i].key))
          {
            secrets[i].needed = TRUE;
            hinted = TRUE;
          }
    }

  if (!hinted)
    {
      Secret *setup_key = &secrets[SECRET_SETUP_KEY];
      Secret *psk = &secrets[SECRET_PRESHARED_KEY];

      setup_key->needed = !(setup_key->flags & NM_SETTING_SECRET_FLAG_NOT_REQUIRED);
      psk->needed = (psk->flags & NM_SETTING_SECRET_FLAG_NOT_SAVED)
                    && !(psk->flags & NM_SETTING_SECRET_FLAG_NOT_REQUIRED);
      /* A pre-shared key kept by NetworkManager itself (flags 0) reaches
       * the service without us; one kept by the user's agent does not. */
      psk->wanted = (psk->flags & (NM_SETTING_SECRET_FLAG_AGENT_OWNED | NM_SETTING_SECRET_FLAG_NOT_SAVED))
                    && !(psk->flags & NM_SETTING_SECRET_FLAG_NOT_REQUIRED);
    }
  for (guint i = 0; i < N_SECRETS; i++)
    secrets[i].wanted |= secrets[i].needed;
  return prompt;
}

static void
find_existing (Secret secrets[N_SECRETS], GHashTable *existing, const char *uuid)
{
  for (guint i = 0; i < N_SECRETS; i++)
    {
      Secret *secret = &secrets[i];
      const char *given;

      if (!secret->wanted)
        continue;
      given = g_hash_table_lookup (existing, secret->key);
      if (given != NULL && given[0] != '\0')
        secret->value = g_strdup (given);
      else if (!(secret->flags & NM_SETTING_SECRET_FLAG_NOT_SAVED))
        secret->value = keyring_lookup (uuid, secret->key);
    }
}

/* ------------------------------------------------------------------------ */
/* Our own prompt (GTK4, libnma's VPN password dialog). */

static gboolean
validate_entered (const Secret *secret, const char *value, GError **error)
{
  if (g_str_equal (secret->key, NM_NETBIRD_KEY_SETUP_KEY))
    return nm_netbird_validate_setup_key (value, error);
  return nm_netbird_validate_key_value (secret->key, value, error);
}

/* Returns FALSE when the user cancels. An entry that breaks its rule is
 * asked again, with the reason above the fields. */
static gboolean
ask_user (Secret secrets[N_SECRETS], const char *vpn_name, const char *prompt)
{
  g_autofree char *message = g_strdup (prompt);

  if (!gtk_init_check ())
    {
      g_printerr ("nm-netbird-auth-dialog: cannot open a display to ask for the secrets of '%s'\n", vpn_name);
      return FALSE;
    }

  for (;;)
    {
      Secret *setup_key = &secrets[SECRET_SETUP_KEY];
      Secret *psk = &secrets[SECRET_PRESHARED_KEY];
      NMAVpnPasswordDialog *dialog;
      g_autoptr (GError) error = NULL;
      gboolean ok;

      dialog = NMA_VPN_PASSWORD_DIALOG (nma_vpn_password_dialog_new (_("Authenticate VPN"), message, NULL));
      nma_vpn_password_dialog_set_show_password (dialog, setup_key->ask);
      nma_vpn_password_dialog_set_password_label (dialog, setup_key->dialog_label);
      if (setup_key->ask && setup_key->value)
        nma_vpn_password_dialog_set_password (dialog, setup_key->value);
      nma_vpn_password_dialog_set_show_password_secondary (dialog, psk->ask);
      nma_vpn_password_dialog_set_password_secondary_label (dialog, psk->dialog_label);
      if (psk->ask && psk->value)
        nma_vpn_password_dialog_set_password_secondary (dialog, psk->value);
      nma_vpn_password_dialog_set_show_password_ternary (dialog, FALSE);
      if (setup_key->ask)
        nma_vpn_password_dialog_focus_password (dialog);
      else
        nma_vpn_password_dialog_focus_password_secondary (dialog);

      gtk_widget_show (GTK_WIDGET (dialog));
      ok = nma_vpn_password_dialog_run_and_block (dialog);
      if (ok)
        {
          const char *entered[N_SECRETS] = {
            nma_vpn_password_dialog_get_password (dialog),
            nma_vpn_password_dialog_get_password_secondary (dialog),
          };

          for (guint i = 0; i < N_SECRETS && error == NULL; i++)
            {
              g_autofree char *value = NULL;

              if (!secrets[i].ask)
                continue;
              value = g_strstrip (g_strdup (entered[i] ? entered[i] : ""));
              secret_clear_value (&secrets[i]);
              /* An empty optional secret means "none". */
              if (value[0] == '\0' && !secrets[i].needed)
                continue;
              if (validate_entered (&secrets[i], value, &error))
                secrets[i].value = g_steal_pointer (&value);
              else
                explicit_bzero (value, strlen (value));
            }
        }
      gtk_window_destroy (GTK_WINDOW (dialog));
      if (!ok)
        return FALSE;
      if (error == NULL)
        return TRUE;
      g_free (message);
      message = g_strdup_printf ("%s\n\n%s", error->message, prompt);
    }
}

/* ------------------------------------------------------------------------ */
/* Answers */

static void
wait_for_quit (void)
{
  g_autoptr (GString) seen = g_string_new (NULL);
  struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
  gint64 deadline = g_get_monotonic_time () + QUIT_WAIT_MS * G_TIME_SPAN_MILLISECOND;

  for (;;)
    {
      gint64 left_ms = (deadline - g_get_monotonic_time ()) / G_TIME_SPAN_MILLISECOND;
      char buf[64];
      ssize_t n;
      int r;

      if (left_ms <= 0)
        return;
      r = poll (&pfd, 1, (int) left_ms);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return;
      n = read (STDIN_FILENO, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      g_string_append_len (seen, buf, n);
      if (strstr (seen->str, "QUIT") != NULL)
        return;
      if (seen->len > 4096)
        g_string_erase (seen, 0, seen->len - 8);
    }
}

static void
print_plain (Secret secrets[N_SECRETS])
{
  for (guint i = 0; i < N_SECRETS; i++)
    if (secrets[i].wanted && secrets[i].value != NULL)
      printf ("%s\n%s\n", secrets[i].key, secrets[i].value);
  printf ("\n\n");
  fflush (stdout);
}

static void
print_external_ui (Secret secrets[N_SECRETS], const char *prompt, gboolean allow_interaction)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *text = NULL;
  gsize length = 0;

  g_key_file_set_integer (keyfile, UI_KEYFILE_GROUP, "Version", 2);
  g_key_file_set_string (keyfile, UI_KEYFILE_GROUP, "Title", _("Authenticate VPN"));
  g_key_file_set_string (keyfile, UI_KEYFILE_GROUP, "Description", prompt);
  for (guint i = 0; i < N_SECRETS; i++)
    {
      Secret *secret = &secrets[i];

      if (!secret->needed && !(secret->wanted && secret->value != NULL))
        continue;
      g_key_file_set_string (keyfile, secret->key, "Value", secret->value ? secret->value : "");
      g_key_file_set_string (keyfile, secret->key, "Label", secret->label);
      g_key_file_set_boolean (keyfile, secret->key, "IsSecret", TRUE);
      g_key_file_set_boolean (keyfile, secret->key, "ShouldAsk", secret->ask && allow_interaction);
    }
  text = g_key_file_to_data (keyfile, &length, NULL);
  fwrite (text, 1, length, stdout);
  fflush (stdout);
  explicit_bzero (text, length);
}

int
main (int argc, char **argv)
{
  gboolean reprompt = FALSE, allow_interaction = FALSE, external_ui_mode = FALSE;
  g_autofree char *uuid = NULL, *name = NULL, *service = NULL;
  g_auto (GStrv) hints = NULL;
  const GOptionEntry entries[] = {
    { "reprompt", 'r', 0, G_OPTION_ARG_NONE, &reprompt, "Ask again even for secrets we have", NULL },
    { "uuid", 'u', 0, G_OPTION_ARG_STRING, &uuid, "UUID of the VPN connection", "UUID" },
    { "name", 'n', 0, G_OPTION_ARG_STRING, &name, "Name of the VPN connection", "NAME" },
    { "service", 's', 0, G_OPTION_ARG_STRING, &service, "VPN service type", "SERVICE" },
    { "allow-interaction", 'i', 0, G_OPTION_ARG_NONE, &allow_interaction, "Allow asking the user", NULL },
    { "external-ui-mode", 0, 0, G_OPTION_ARG_NONE, &external_ui_mode, "Describe the prompt instead of showing it", NULL },
    { "hint", 't', 0, G_OPTION_ARG_STRING_ARRAY, &hints, "What the VPN service asks for", "HINT" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GHashTable) data = NULL;
  g_autoptr (GHashTable) existing = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *prompt = NULL;
  Secret secrets[N_SECRETS] = {
    [SECRET_SETUP_KEY] = { NM_NETBIRD_KEY_SETUP_KEY, N_("Setup key"), N_("_Setup key:") },
    [SECRET_PRESHARED_KEY] = { NM_NETBIRD_KEY_PRESHARED_KEY, N_("Pre-shared key"), N_("_Pre-shared key:") },
  };
  gboolean ask = FALSE;
  int status = EXIT_SUCCESS;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  for (guint i = 0; i < N_SECRETS; i++)
    {
      secrets[i].label = _(secrets[i].label);
      secrets[i].dialog_label = _(secrets[i].dialog_label);
    }

  context = g_option_context_new ("- NetBird VPN secrets for NetworkManager");
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("nm-netbird-auth-dialog: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (uuid == NULL || name == NULL || service == NULL)
    {
      g_printerr ("nm-netbird-auth-dialog: -u UUID, -n NAME and -s SERVICE are required\n");
      return EXIT_FAILURE;
    }
  if (!g_str_equal (service, NM_NETBIRD_SERVICE_TYPE))
    {
      g_printerr ("nm-netbird-auth-dialog: only for the %s service, not %s\n", NM_NETBIRD_SERVICE_TYPE, service);
      return EXIT_FAILURE;
    }
  if (!nm_vpn_service_plugin_read_vpn_details (STDIN_FILENO, &data, &existing))
    {
      g_printerr ("nm-netbird-auth-dialog: could not read the data and secrets of '%s' from stdin\n", name);
      return EXIT_FAILURE;
    }

  prompt = decide_needed (secrets, data, hints);
  if (prompt == NULL)
    prompt = g_strdup_printf (_("You need to authenticate to access the Virtual Private Network “%s”."), name);
  find_existing (secrets, existing, uuid);
  for (guint i = 0; i < N_SECRETS; i++)
    {
      secrets[i].ask = secrets[i].needed && (secrets[i].value == NULL || reprompt);
      ask |= secrets[i].ask;
    }

  if (external_ui_mode)
    print_external_ui (secrets, prompt, allow_interaction);
  else if (ask && allow_interaction && !ask_user (secrets, name, prompt))
    status = EXIT_FAILURE;   /* cancelled: no answer at all */
  else
    {
      print_plain (secrets);
      wait_for_quit ();
    }

  for (guint i = 0; i < N_SECRETS; i++)
    secret_clear_value (&secrets[i]);
  return status;
}
