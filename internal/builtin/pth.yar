/*
    pth.yar: .pth files that execute code.

    Python's site module reads every *.pth file in site-packages at each
    interpreter start and executes the lines that begin with "import". A
    package can thus run code whenever any Python program starts, without
    being imported. Legitimate .pth files use this for tiny hooks
    (setuptools' distutils shim, coverage, editable installs); a line that
    evaluates code, decodes data, or starts programs or connections is not
    one of those.
*/

rule pth_executes_code
{
    meta:
        description = "a .pth file whose import line executes, decodes, spawns processes or opens connections"
        weight = 8
        filetype = ".pth"
    strings:
        // site executes a .pth line only when it starts with "import", and
        // only that line: the sink must be on the same line.
        $first = /import[ \t][^\n]{0,2000}([^.\w](exec|eval|compile)\s*\(|b64decode|b32decode|b85decode|fromhex|unhexlify|decompress|marshal|__import__\(\s*['"](base64|zlib|marshal|codecs|lzma|bz2|binascii|subprocess|socket|urllib\.request|ctypes)['"]|subprocess\s*\.\s*(Popen|call|run|check_call|check_output|getoutput)\s*\(|os\s*\.\s*(system|popen|startfile|spawn[lv]p?e?|exec[lv]p?e?|fork)\s*\(|urlopen|urlretrieve|socket\s*\.\s*socket|create_connection|requests\s*\.\s*(get|post)|ctypes)/
        $line = /\nimport[ \t][^\n]{0,2000}([^.\w](exec|eval|compile)\s*\(|b64decode|b32decode|b85decode|fromhex|unhexlify|decompress|marshal|__import__\(\s*['"](base64|zlib|marshal|codecs|lzma|bz2|binascii|subprocess|socket|urllib\.request|ctypes)['"]|subprocess\s*\.\s*(Popen|call|run|check_call|check_output|getoutput)\s*\(|os\s*\.\s*(system|popen|startfile|spawn[lv]p?e?|exec[lv]p?e?|fork)\s*\(|urlopen|urlretrieve|socket\s*\.\s*socket|create_connection|requests\s*\.\s*(get|post)|ctypes)/
    condition:
        $first at 0 or $line
}
