/*
    shells.yar: remote shells.

    A reverse shell connects out to the attacker and wires a shell to the
    socket: in Python by duplicating the socket over stdin/stdout/stderr
    (os.dup2) before starting /bin/sh or pty.spawn, or by a loop that runs
    whatever the socket sends through subprocess; in shell by redirecting
    to bash's /dev/tcp pseudo-device or through a named pipe and netcat.
    Each rule asks for the socket and the shell together, so that a network
    client or a terminal emulator alone does not match.
*/

private rule shells_socket_connect
{
    strings:
        $socket = /socket\s*\.\s*socket\s*\(/
        $connect = /\.connect\s*\(\s*\(/
        $create = /socket\s*\.\s*create_connection\s*\(/
    condition:
        ($socket and $connect) or $create
}

rule shells_reverse_shell_dup2
{
    meta:
        description = "reverse shell: an outgoing socket duplicated over the standard streams (os.dup2) and a shell started on it"
        weight = 10
        filetype = ".py .pyw .pth"
    strings:
        $dup2 = /os\s*\.\s*dup2\s*\(/
        $sh = "/bin/sh"
        $bash = "/bin/bash"
        $cmd = "cmd.exe" nocase
        $pty = /pty\s*\.\s*spawn\s*\(/
    condition:
        shells_socket_connect and #dup2 >= 2 and ($sh or $bash or $cmd or $pty)
}

rule shells_reverse_shell_pty
{
    meta:
        description = "reverse shell: pty.spawn of a shell in a file that opens an outgoing socket"
        weight = 9
        filetype = ".py .pyw .pth"
    strings:
        $pty = /pty\s*\.\s*spawn\s*\(\s*(['"](\/bin\/)?(ba|z|da)?sh['"]|\[\s*['"](\/bin\/)?(ba|z|da)?sh['"])/
    condition:
        $pty and shells_socket_connect
}

rule shells_command_loop
{
    meta:
        description = "backdoor loop: commands received on an outgoing socket are run through a shell and the output sent back"
        weight = 8
        filetype = ".py .pyw .pth"
    strings:
        $recv = /\.recv\s*\(\s*\d{3,}\s*\)/
        $send = /\.send(all)?\s*\(/
        $popen = /subprocess\s*\.\s*(Popen|check_output|run|getoutput|getstatusoutput)\s*\(/
        $os_popen = /os\s*\.\s*popen\s*\(/
        $shell = /shell\s*=\s*True/
        $getoutput = /subprocess\s*\.\s*(getoutput|getstatusoutput)\s*\(/
    condition:
        shells_socket_connect and $recv and $send and (($popen and $shell) or $getoutput or $os_popen)
}

rule shells_shell_one_liner
{
    meta:
        description = "shell reverse-shell one-liners: bash /dev/tcp redirection, mkfifo + netcat, netcat -e, socat exec"
        weight = 9
        filetype = ".py .pyw .pth .sh"
    strings:
        $dev_tcp = /(>&|<>|<&)\s*\/dev\/(tcp|udp)\//
        $mkfifo = /mkfifo\s+\/tmp\/\w{1,20}\s*;[^\n]{0,120}\bnc(at)?\s/
        $nc_e = /\bnc(at)?(\.exe)?\s+(-\w+\s+)*-[ec]\s+(\/bin\/(ba|z|da)?sh|cmd(\.exe)?|powershell)\b/
        $socat = /socat\s[^\n]{0,120}exec:['"]?(\/bin\/)?(ba|z|da)?sh/ nocase
    condition:
        any of them
}
