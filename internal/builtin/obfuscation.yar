/*
    obfuscation.yar: source written so that a human cannot read it.

    None of these tricks is needed by ordinary code, and each of them is a
    staple of the packages the Dragonfly project has reported: strings
    reversed or spelled out with chr() just before being executed, builtins
    fetched by a computed name, hex-escaped source, and large encoded blobs
    fed to a decoder. Where a trick alone could be innocent (a chr() call, a
    base64 image), the rule asks for a second sign.
*/

private rule obfuscation_exec_sink
{
    strings:
        $call = /[^.\w](exec|eval|compile|__import__)\s*\(/
    condition:
        $call
}

rule obfuscation_reversed_exec
{
    meta:
        description = "exec/eval of a string reversed with [::-1]"
        weight = 7
        filetype = ".py .pyw .pth"
    strings:
        $rev = /[^.\w](exec|eval|compile)\s*\([^\n]{0,400}\[\s*::\s*-\s*1\s*\]/
    condition:
        $rev
}

rule obfuscation_chr_chain
{
    meta:
        description = "code or names spelled out character by character with chr() chains, or chr()-decoded data handed to exec"
        weight = 6
        filetype = ".py .pyw .pth"
    strings:
        // chr(112)+chr(114)+chr(105)+chr(110)
        $chain = /chr\(\s*\d{1,3}\s*\)\s*\+\s*chr\(\s*\d{1,3}\s*\)\s*\+\s*chr\(\s*\d{1,3}\s*\)\s*\+\s*chr\(\s*\d{1,3}\s*\)/
        // exec(chr(112)+chr(114)+...), getattr(os, chr(115)+chr(121)+...)
        $exec_chain = /[^.\w](exec|eval|compile|__import__|getattr)\s*\([^\n]{0,100}chr\(\s*\d{1,3}\s*\)\s*\+\s*chr\(/
        // "".join(map(chr, [112, 114, ...]))
        $map = /join\(\s*map\(\s*chr\s*,\s*[\[(]\s*\d{1,3}\s*(,\s*\d{1,3}\s*){11}/
        // "".join(chr(c ^ 42) for c in data)
        $xor = /join\(\s*\[?\s*chr\(\s*\w{1,20}\s*(\^|-|\+|%)\s*\w{1,20}\s*\)\s+for\s/
    condition:
        // 10 overlapping matches: a chain of 13 or more chr() calls
        #chain >= 10 or $exec_chain or (($map or $xor) and obfuscation_exec_sink)
}

rule obfuscation_builtins_lookup
{
    meta:
        description = "exec/eval fetched from __builtins__ by a computed name, or onelinerizer-style lambda chains"
        weight = 7
        filetype = ".py .pyw .pth"
    strings:
        // getattr(__builtins__, "exec"), getattr(__import__("builtins"), "ex" + "ec")
        $getattr = /getattr\(\s*(__builtins__|__import__\(\s*['"](builtins|__builtin__)['"]\s*\))\s*,\s*(['"](exec|eval|compile|__import__)['"]|['"]\w{1,8}['"]\s*\+|[^\n)]{0,40}(\[\s*::\s*-\s*1\s*\]|chr\(|fromhex|join\())/
        // getattr(builtins, "cexe"[::-1]); the module with a plain name is how
        // py2/py3 compatibility code fetches exec, so only computed names count.
        $getattr_module = /getattr\(\s*builtins\s*,\s*(['"]\w{1,8}['"]\s*\+|[^\n)]{0,40}(\[\s*::\s*-\s*1\s*\]|chr\(|fromhex|join\())/
        // __builtins__["exec"], __builtins__.__dict__["ev" + "al"]
        $subscript = /__builtins__\s*(\.\s*__dict__\s*)?\[\s*(['"](exec|eval|compile|__import__)['"]|['"]\w{1,8}['"]\s*\+|[^\]\n]{0,40}(\[\s*::\s*-\s*1\s*\]|chr\(|fromhex|join\())/
        // globals()["__builtins__"], vars(__builtins__)
        $globals = /(globals|locals)\(\s*\)\s*\[\s*['"]__builtins__['"]\s*\]/
        $vars = /vars\(\s*__builtins__\s*\)/
        // __import__("builtins").exec(...)
        $attr = /__import__\(\s*['"](builtins|__builtin__)['"]\s*\)\s*\.\s*(exec|eval|compile)\s*\(/
        // (lambda _, __, ___: ...)(...)
        $lambda = /\(\s*lambda\s+_{1,12}\s*(,\s*_{1,12}\s*){2,}:/
    condition:
        any of them
}

rule obfuscation_hex_escaped_exec
{
    meta:
        description = "exec/eval/compile of a hex- or octal-escaped string literal"
        weight = 6
        filetype = ".py .pyw .pth"
    strings:
        $hex = /[^.\w](exec|eval|compile)\s*\(\s*b?['"](\\x[0-9a-fA-F]{2}){4}/
        $oct = /[^.\w](exec|eval|compile)\s*\(\s*b?['"](\\[0-7]{3}){4}/
    condition:
        // A rule on long runs of escapes anywhere would cost a regex attempt
        // per escaped byte of every generated data module: too slow.
        $hex or $oct
}

rule obfuscation_large_encoded_blob
{
    meta:
        description = "a literal of 1000+ base64/hex characters handed straight to a decoder (images and other known file formats excepted)"
        weight = 4
        filetype = ".py .pyw .pth"
    strings:
        $blob = /(b64decode|b32decode|b85decode|a85decode|decodebytes|unhexlify|fromhex|decompress)\(\s*b?['"][A-Za-z0-9+\/=_-]{1000}/
        // PNG, GIF, JPEG, ICO, XML, SVG, PDF, RIFF (WebP/WAV) and WOFF fonts are how legitimate code embeds data.
        $known = /(b64decode|decodebytes)\(\s*b?['"](iVBORw0KGgo|R0lGOD|\/9j\/|AAABAA|PD94bWw|PHN2Zy|JVBERi|UklGR|d09GR)[A-Za-z0-9+\/=_-]{990}/
    condition:
        #blob > #known
}
