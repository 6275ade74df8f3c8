/*
    dropper.yar: download and execute.

    The second stage of most malicious packages is not in the package at
    all: a few lines fetch it and run it. Fetching is normal and running
    programs is normal; fetching code and executing it in the same
    expression, or fetching a Windows executable and starting it, or piping
    a download into a shell, is what a dropper does.
*/

private rule dropper_fetch
{
    strings:
        $urlopen = /urlopen\s*\(/
        $urlretrieve = /urlretrieve\s*\(/
        $requests = /requests\s*\.\s*(get|post|request)\s*\(/
        $httpx = /httpx\s*\.\s*(get|stream)\s*\(/
        $webclient = "WebClient" nocase
    condition:
        any of them
}

rule dropper_exec_downloaded_code
{
    meta:
        description = "exec/eval of code fetched over HTTP (urlopen, requests, httpx)"
        weight = 9
        filetype = ".py .pyw .pth"
    strings:
        $urlopen = /[^.\w](exec|eval)\s*\(\s*(urllib\s*\.\s*request\s*\.\s*|urllib2\s*\.\s*|request\s*\.\s*)?urlopen\s*\(/
        $requests = /[^.\w](exec|eval)\s*\(\s*(requests|httpx|session|sess|s|client)\s*\.\s*(get|post)\s*\(/
        $import = /[^.\w](exec|eval)\s*\(\s*__import__\(\s*['"](urllib\.request|urllib2|requests|httpx)['"]\s*\)/
        $resp_attr = /[^.\w](exec|eval)\s*\(\s*\w{1,20}\s*\.\s*(text|content)\s*[),.]/
        $resp_read = /[^.\w](exec|eval)\s*\(\s*(r|res|resp|response|req|page|u|conn)\s*\.\s*read\(\s*\)/
    condition:
        $urlopen or $requests or $import or (($resp_attr or $resp_read) and dropper_fetch)
}

rule dropper_download_and_run_executable
{
    meta:
        description = "downloads a Windows executable or script (.exe, .scr, .bat, .ps1, .vbs, .msi, .hta), or a file it makes executable, and starts it"
        weight = 8
        filetype = ".py .pyw .pth"
    strings:
        // a file name, path or URL ending in an executable extension ("update.exe",
        // ".../a.ps1"), not a bare extension tested with endswith(".exe")
        $exe = /['"\\\/][\w-]{2,64}\.(exe|scr|bat|cmd|vbs|ps1|msi|hta)['"]/ nocase
        $write = /open\s*\([^\n]{0,200}['"]wb['"]/
        $write_bytes = ".write_bytes("
        $retrieve = /urlretrieve\s*\(/
        $chmod = /os\s*\.\s*chmod\s*\([^\n]{0,120}(0o?7[5-7][5-7]|0o?111|S_IX|S_IRWXU)/
        $chmod_sh = "chmod +x"
        $startfile = /os\s*\.\s*startfile\s*\(/
        $shellexec = "ShellExecute"
        $subprocess = /subprocess\s*\.\s*(Popen|call|run|check_call)\s*\(/
        $system = /os\s*\.\s*(system|popen)\s*\(/
        $detached = "DETACHED_PROCESS"
        $no_window = "CREATE_NO_WINDOW"
    condition:
        dropper_fetch
        and ($write or $write_bytes or $retrieve)
        and ($exe or $chmod or $chmod_sh)
        and ($startfile or $shellexec or $subprocess or $system or $detached or $no_window)
}

rule dropper_pipe_to_shell
{
    meta:
        description = "a download piped straight into a shell or interpreter (curl ... | sh, wget -O- ... | python)"
        weight = 8
        filetype = ".py .pyw .pth"
    strings:
        $pipe = /(curl|wget)\s[^\n|;&]{0,300}\|\s*(sudo\s+)?((ba|z|da)?sh|python[23]?|perl)\b/
    condition:
        $pipe
}
