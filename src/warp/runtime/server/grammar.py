"""The HTTP/1.1 message grammar as compiled regular expressions.

Each pattern is built from named parts that sit beside the ABNF rule they
encode (RFC 9110 "HTTP Semantics", RFC 9112 "HTTP/1.1", RFC 3986 "URI").
Everything works on bytes: the parser never decodes before it has validated.
"""

import re

# RFC 5234 B.1 core rules, as regex character-class bodies.
DIGIT = rb"0-9"
ALPHA = rb"A-Za-z"
HEXDIG = rb"0-9A-Fa-f"
VCHAR = rb"\x21-\x7e"
OBS_TEXT = rb"\x80-\xff"  # RFC 9110 5.5: obs-text = %x80-FF

# RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "."
#                         / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
TCHAR = rb"!#$%&'*+\-.^_`|~" + DIGIT + ALPHA
# token = 1*tchar
TOKEN = rb"[" + TCHAR + rb"]+"

# RFC 9110 5.6.3: OWS = *( SP / HTAB )
OWS = rb"[ \t]*"

# RFC 9112 2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT
HTTP_VERSION = rb"HTTP/(?P<version>[" + DIGIT + rb"]\.[" + DIGIT + rb"])"

# RFC 9112 3.2: request-target = origin-form / absolute-form / authority-form / asterisk-form.
# The four forms are told apart after the line matched; here the target is any run of
# visible ASCII (RFC 3986 allows no space, control or non-ASCII byte in a URI).  Characters
# such as '"', '{' or '|' are outside RFC 3986 but real clients send them unescaped, and
# they cannot change how the message is framed, so they are accepted.
REQUEST_TARGET = rb"(?P<target>[" + VCHAR + rb"]+)"

# RFC 9112 3: request-line = method SP request-target SP HTTP-version
#             method = token
REQUEST_LINE = re.compile(
    rb"(?P<method>" + TOKEN + rb") " + REQUEST_TARGET + rb" " + HTTP_VERSION
)

# RFC 9110 5.5: field-value = *field-content
#   field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
#   field-vchar   = VCHAR / obs-text
FIELD_VCHAR = rb"[" + VCHAR + OBS_TEXT + rb"]"
FIELD_CONTENT = FIELD_VCHAR + rb"(?:[ \t" + VCHAR + OBS_TEXT + rb"]*" + FIELD_VCHAR + rb")?"
FIELD_VALUE = rb"(?:" + FIELD_CONTENT + rb")?"

# RFC 9112 5: field-line = field-name ":" OWS field-value OWS
#   field-name = token  (RFC 9110 5.1).  No whitespace is allowed between the name and
#   the colon (RFC 9112 5.1: such a request MUST be rejected with 400).
FIELD_LINE = re.compile(
    rb"(?P<name>" + TOKEN + rb"):" + OWS + rb"(?P<value>" + FIELD_VALUE + rb")" + OWS
)

# RFC 9112 6.3 / RFC 9110 8.6: Content-Length = 1*DIGIT
CONTENT_LENGTH = re.compile(rb"[" + DIGIT + rb"]+")

# RFC 9112 7.1: chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
#               chunk-size = 1*HEXDIG
#               chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
#               chunk-ext-name = token ; chunk-ext-val = token / quoted-string
# RFC 9110 5.6.4: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
#   qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
QUOTED_STRING = (
    rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e' + OBS_TEXT + rb']|\\[\t ' + VCHAR + OBS_TEXT + rb'])*"'
)
CHUNK_EXT = (
    rb"(?:" + OWS + rb";" + OWS + TOKEN
    + rb"(?:" + OWS + rb"=" + OWS + rb"(?:" + TOKEN + rb"|" + QUOTED_STRING + rb"))?)*"
)
CHUNK_LINE = re.compile(rb"(?P<size>[" + HEXDIG + rb"]+)" + CHUNK_EXT)

# RFC 9110 7.2: Host = uri-host [ ":" port ]; uri-host is an IP-literal in brackets,
# an IPv4 address or a reg-name (unreserved / pct-encoded / sub-delims).  An empty
# value is allowed by the grammar (reg-name may be empty).
HOST = re.compile(
    rb"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::(?P<port>[" + DIGIT + rb"]*))?"
)

# RFC 3986 2.1: pct-encoded = "%" HEXDIG HEXDIG.  A '%' not followed by two hex digits.
BAD_PERCENT = re.compile(rb"%(?![" + HEXDIG + rb"]{2})")

# RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), used for absolute-form.
ABSOLUTE_FORM = re.compile(
    rb"(?P<scheme>[" + ALPHA + rb"][" + ALPHA + DIGIT + rb"+\-.]*)://(?P<authority>[^/?#]*)(?P<rest>.*)"
)

# Bare CR or LF inside a head: every line must end in CRLF (RFC 9112 2.2 lets a
# recipient accept a lone LF, but accepting it is what request smuggling needs).
BARE_CR_OR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")

# A byte that can never appear in a request-line (RFC 9112 3: tokens, SP, VCHAR).
NOT_REQUEST_LINE_BYTE = re.compile(rb"[^\x20-\x7e]")
