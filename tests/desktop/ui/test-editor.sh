#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../../lib source-path=SCRIPTDIR
# The editors on a real X server (Xvfb): test-editor loads the built GTK4
# editor module, fills and checks the form, and saves a screenshot to
# tests/desktop/ui/editor-gtk4.png in the build tree; test-editor-gtk3 does
# the same, more briefly, for the GTK3 module (editor-gtk3.png).
set -u
. "${NB_SOURCE_ROOT:-$(dirname "$0")/../../..}/tests/lib/harness.sh"
. "$(dirname "${BASH_SOURCE[0]}")/ui-lib.sh"
nb_sandbox "$@"

nb_ui_home
nb_ui_xvfb
export G_TEST_BUILDDIR="$NB_BUILD_ROOT/tests/desktop/ui"
rm -f "$G_TEST_BUILDDIR/editor-gtk4.png"

nb_check "GTK4 editor: fields, secret flags, validation, screenshot" \
	"$NB_BUILD_ROOT/tests/desktop/ui/test-editor" --verbose

png="$G_TEST_BUILDDIR/editor-gtk4.png"
nb_check "screenshot is a PNG" bash -c "head -c 8 '$png' | od -An -tx1 | tr -d ' \n' | grep -qx 89504e470d0a1a0a"

# The GTK3 twin (nm-connection-editor's editor), when it is built.
if [ -x "$NB_BUILD_ROOT/tests/desktop/ui/test-editor-gtk3" ]; then
	rm -f "$G_TEST_BUILDDIR/editor-gtk3.png"
	nb_check "GTK3 editor: fields, secret flags, validation, screenshot" \
		"$NB_BUILD_ROOT/tests/desktop/ui/test-editor-gtk3" --verbose
	nb_check "GTK3 screenshot is a PNG" bash -c "head -c 8 '$G_TEST_BUILDDIR/editor-gtk3.png' | od -An -tx1 | tr -d ' \n' | grep -qx 89504e470d0a1a0a"
else
	nb_log "GTK3 editor not built: its test is skipped"
fi
