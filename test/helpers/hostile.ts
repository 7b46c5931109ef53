/** Strings that try to break out of a quoted value: SQL, escapes, control bytes, placeholders. */
export const HOSTILE = [
  "o'brien", "'; DROP TABLE t; --", "\\'", "\\", "\\\\'", "a\\'b", "back\\slash", '"double"', '`tick`',
  'line\nbreak', 'cr\rlf', 'tab\there', 'nul\u0000byte', '\u001b[31mansi', 'del\u007f', 'ünïcødé ✓ 日本', '🙂 emoji',
  '{x:String}', '{{db}}', '$1 ? :name', "' OR 1=1 --", "x' UNION ALL SELECT version() --", '%_*', '/* c */', 'a;b',
];
