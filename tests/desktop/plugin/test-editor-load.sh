#!/bin/bash
# The plugin's lazy editor loading in a GTK3 and in a GTK4 process, on Xvfb
# (test-editor-load.c). Arguments: the test programs to run.
set -u
. "$NB_SOURCE_ROOT/tests/lib/harness.sh"
. "$NB_SOURCE_ROOT/tests/desktop/ui/ui-lib.sh"
nb_sandbox "$@"

nb_ui_home
nb_ui_xvfb
for prog in "$@"; do
	nb_check "$(basename "$prog"): the plugin loads the editor of the process's GTK" "$prog"
done
exit 0
