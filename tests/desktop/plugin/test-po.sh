#!/bin/bash
# The translations: po/POTFILES.in lists files that exist and every file
# with translatable strings, and each language of po/LINGUAS translates
# every message of a template made now from the sources (no untranslated or
# fuzzy message, msgfmt -c clean). Needs no root.
set -u
src=${NB_SOURCE_ROOT:-$(cd "$(dirname "$0")/../../.." && pwd)}
cd "$src" || exit 1
for c in xgettext msgmerge msgfmt; do
	command -v "$c" >/dev/null || { echo "SKIP: needs $c (gettext)"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
ok() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; failed=1; }

mapfile -t entries < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' po/POTFILES.in | grep -v '^$')
[ "${#entries[@]}" -gt 0 ] || fail "po/POTFILES.in lists no file"

missing=()
for f in "${entries[@]}"; do [ -f "$f" ] || missing+=("$f"); done
if [ "${#missing[@]}" = 0 ]; then ok "every POTFILES.in entry exists (${#entries[@]})"
else fail "POTFILES.in entries that do not exist: ${missing[*]}"; fi

# Files with _("..."), N_("..."), C_("...") (GNU spacing allowed) or
# translatable="yes", outside the tests, and the metainfo/desktop templates.
mapfile -t marked < <({
	grep -rlE --include='*.c' --include='*.h' --include='*.ui' \
		'(^|[^A-Za-z0-9_])(N|C|NC)?_ ?\("|translatable="yes"' \
		shared plugin properties auth-dialog service 2>/dev/null
	ls data/*.metainfo.xml.in data/*.desktop.in 2>/dev/null
} | sort)
unlisted=()
for f in "${marked[@]}"; do
	printf '%s\n' "${entries[@]}" | grep -qxF "$f" || unlisted+=("$f")
done
if [ "${#unlisted[@]}" = 0 ]; then ok "every file with translatable strings is in POTFILES.in (${#marked[@]})"
else fail "files with translatable strings missing from POTFILES.in: ${unlisted[*]}"; fi

# A template from the sources as they are now (the keywords of meson's
# "glib" preset), not the last one someone generated.
printf '%s\n' "${entries[@]}" > "$tmp/files"
if xgettext --files-from="$tmp/files" --directory="$src" --output="$tmp/now.pot" \
	--from-code=UTF-8 --add-comments --keyword=_ --keyword=N_ --keyword=C_:1c,2 \
	--keyword=NC_:1c,2 --keyword=g_dngettext:2,3 --keyword=g_dpgettext2:2c,3 \
	--package-name=NetworkManager-netbird 2>"$tmp/xgettext.err"; then
	ok "xgettext makes a template of $(grep -c '^msgid ' "$tmp/now.pot") messages"
else
	fail "xgettext: $(cat "$tmp/xgettext.err")"
fi

mapfile -t langs < <(sed -e 's/#.*//' po/LINGUAS | tr -s ' \t' '\n' | grep -v '^$')
[ "${#langs[@]}" -gt 0 ] || fail "po/LINGUAS names no language"
for l in "${langs[@]}"; do
	po=po/$l.po
	[ -f "$po" ] || { fail "$po does not exist"; continue; }
	if out=$(msgfmt -c --statistics -o /dev/null "$po" 2>&1); then ok "msgfmt -c $po: $out"
	else fail "msgfmt -c $po: $out"; fi
	if ! msgmerge --quiet --no-fuzzy-matching -o "$tmp/$l.po" "$po" "$tmp/now.pot" 2>"$tmp/merge.err"; then
		fail "msgmerge $po: $(cat "$tmp/merge.err")"; continue
	fi
	stats=$(msgfmt -c --statistics -o /dev/null "$tmp/$l.po" 2>&1)
	if [[ $stats =~ ^[0-9]+\ translated\ messages?\.$ ]]; then ok "$l translates every message of the template: $stats"
	else
		fail "$l is incomplete against the sources: $stats"
		msgattrib --untranslated --no-obsolete "$tmp/$l.po" 2>/dev/null | grep '^msgid' | head -20 | sed 's/^/  /'
	fi
done
exit "$failed"
