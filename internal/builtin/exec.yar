/*
    exec.yar: Python that executes a payload it has just decoded.

    Legitimate code decodes base64, decompresses zlib and loads marshal data
    all the time, and a few tools call exec or eval. What ordinary code does
    not do is hand the output of a decoder straight to exec/eval/compile:
    that is how droppers hide their second stage from a reader. The rules
    therefore look for the decoder inside the call, or for an import of the
    decoder that only makes sense for that purpose.
*/

rule exec_base64_blob
{
    meta:
        description = "exec/eval/compile of a base64, base32 or base85 decoded blob"
        weight = 8
        filetype = ".py .pyw .pth"
    strings:
        // exec(base64.b64decode(...)), eval(b64decode(...)), compile(__import__('base64').b85decode(...), ...)
        $direct = /[^.\w](exec|eval|compile)\s*\(\s*(base64\s*\.\s*|__import__\(\s*['"]base64['"]\s*\)\s*\.\s*)?(b64|b32|b85|a85|b16|urlsafe_b64|standard_b64)decode\s*\(/
        $bytes = /[^.\w](exec|eval|compile)\s*\(\s*(base64\s*\.\s*)?decode(bytes|string)\s*\(/
        // code = base64.b64decode(...) ... exec(code) / exec(code.decode())
        $assign = /=\s*(base64\s*\.\s*)?(b64|b32|b85|a85|urlsafe_b64)decode\s*\(/
        $exec_var = /[^.\w](exec|eval)\s*\(\s*[A-Za-z_]\w{0,40}\s*(\.\s*decode\s*\([^)\n]{0,20}\))?\s*\)/
    condition:
        $direct or $bytes or ($assign and $exec_var)
}

rule exec_compressed_or_marshalled
{
    meta:
        description = "exec/eval of zlib/lzma/bz2 decompressed data or of a marshal-loaded code object"
        weight = 9
        filetype = ".py .pyw .pth"
    strings:
        $exec_decomp = /[^.\w](exec|eval)\s*\(\s*(__import__\(\s*['"](zlib|lzma|bz2|gzip|marshal)['"]\s*\)|zlib|lzma|bz2|gzip|marshal)\s*\.\s*(decompress|loads)\s*\(/
        $marshal_decoded = /marshal\s*\.\s*loads\s*\(\s*(zlib\s*\.\s*decompress|lzma\s*\.\s*decompress|bz2\s*\.\s*decompress|base64\s*\.\s*b64decode|b64decode|bytes\s*\.\s*fromhex|codecs\s*\.\s*decode|binascii\s*\.\s*unhexlify)\s*\(/
        $function_type = /FunctionType\s*\(\s*marshal\s*\.\s*loads\s*\(/
    condition:
        any of them
}

rule exec_hex_or_codecs_decoded
{
    meta:
        description = "exec/eval of bytes.fromhex, binascii.unhexlify or codecs.decode (rot13 and friends) output"
        weight = 7
        filetype = ".py .pyw .pth"
    strings:
        $hex = /[^.\w](exec|eval|compile)\s*\(\s*(bytes|bytearray)\s*\.\s*fromhex\s*\(/
        $unhex = /[^.\w](exec|eval|compile)\s*\(\s*(binascii\s*\.\s*)?(unhexlify|a2b_hex|a2b_base64)\s*\(/
        $codecs = /[^.\w](exec|eval|compile)\s*\(\s*(codecs\s*\.\s*|__import__\(\s*['"]codecs['"]\s*\)\s*\.\s*)(decode|encode)\s*\(/
    condition:
        any of them
}

rule exec_dynamic_import_decoder
{
    meta:
        description = "decoder module pulled in with __import__() in a file that calls exec/eval"
        weight = 6
        filetype = ".py .pyw .pth"
    strings:
        $imp = /__import__\(\s*['"](base64|zlib|marshal|codecs|lzma|bz2|binascii)['"]\s*\)/
        $exec = /[^.\w](exec|eval)\s*\(/
    condition:
        $imp and $exec
}
