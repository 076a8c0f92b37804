# Rewrites proto3 `optional T name = N;` (one field per line) into the synthetic
# oneof it stands for, `oneof _name { T name = N; }`, for protoc-c 1.4.1, which
# rejects `optional`. Same wire encoding; presence becomes the oneof case.
# Used with sed -E by meson.build.
s/^([[:space:]]*)optional[[:space:]]+([A-Za-z0-9_.]+)[[:space:]]+([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]+)[[:space:]]*;/\1oneof _\3 { \2 \3 = \4; }/
