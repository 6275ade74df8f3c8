/*
    spyware.yar: the rest of a stealer's toolbox.

    Sandbox and analysis-tool checks (a stealer exits quietly when it sees a
    VM or a debugger), clipboard hijacking (swapping a copied wallet address
    for the attacker's) and keylogging with the keys sent out. Each of these
    combines two signs, so that a hypervisor-detection library, a clipboard
    utility or a hotkey tool alone does not match.
*/

private rule spyware_exfil_channel
{
    strings:
        $discord = "/api/webhooks/"
        $telegram = "api.telegram.org"
        $slack = "hooks.slack.com"
        $smtp = /smtplib\s*\.\s*SMTP(_SSL)?\s*\(/
        $ftp = /ftplib\s*\.\s*FTP(_TLS)?\s*\(/
        $pastebin = "pastebin.com/api"
    condition:
        any of them
}

rule spyware_anti_vm_checks
{
    meta:
        description = "checks for virtual machines together with analysis tools or sandbox user names, as stealers do before running"
        weight = 5
        filetype = ".py .pyw .pth"
    strings:
        $vbox_service = "VBoxService" nocase
        $vbox_tray = "VBoxTray" nocase
        $vmtoolsd = "vmtoolsd" nocase
        $vmware_tray = "vmwaretray" nocase
        $vmware_user = "vmwareuser" nocase
        $vgauth = "VGAuthService" nocase
        $vmsrvc = "vmsrvc" nocase
        $qemu_ga = "qemu-ga" nocase
        $prl = "prl_tools" nocase
        $xen = "xenservice" nocase
        $vbox_mac = "08:00:27"
        $vmware_mac = "00:0c:29" nocase
        $acpi = /DSDT\\{1,2}VBOX__/ nocase
        $wireshark = "wireshark" nocase
        $procmon = "procmon" nocase
        $process_hacker = "processhacker" nocase
        $x64dbg = "x64dbg" nocase
        $x32dbg = "x32dbg" nocase
        $ollydbg = "ollydbg" nocase
        $fiddler = "fiddler" nocase
        $httpdebugger = "httpdebugger" nocase
        $ida = "ida64" nocase
        $sandboxie = "SbieDll" nocase
        $dnspy = "dnspy" nocase
        $pestudio = "pestudio" nocase
        $wdag = "WDAGUtilityAccount"
    condition:
        (2 of ($vbox_service, $vbox_tray, $vmtoolsd, $vmware_tray, $vmware_user, $vgauth, $vmsrvc, $qemu_ga, $prl, $xen, $vbox_mac, $vmware_mac, $acpi)
         and 2 of ($wireshark, $procmon, $process_hacker, $x64dbg, $x32dbg, $ollydbg, $fiddler, $httpdebugger, $ida, $sandboxie, $dnspy, $pestudio))
        or ($wdag and 2 of them)
}

rule spyware_clipboard_hijacker
{
    meta:
        description = "reads and rewrites the clipboard in a file that also matches cryptocurrency addresses"
        weight = 8
        filetype = ".py .pyw .pth"
    strings:
        $paste = /pyperclip\s*\.\s*paste\s*\(/
        $get_data = "GetClipboardData"
        $clipboard_get = "clipboard_get("
        $ps_get = "Get-Clipboard" nocase
        $copy = /pyperclip\s*\.\s*copy\s*\(/
        $set_data = "SetClipboardData"
        $clipboard_append = "clipboard_append("
        $ps_set = "Set-Clipboard" nocase
        // fragments of the usual address regexes: Base58 (BTC, LTC, TRX), Ethereum, bech32, Monero
        $base58 = "a-km-zA-HJ-NP-Z1-9"
        $base58b = "a-zA-HJ-NP-Z0-9"
        $eth = /0x\[(a-fA-F0-9|0-9a-fA-F|a-f0-9|0-9a-f|A-Fa-f0-9)\]\{40\}/
        $bech32 = /bc1\|?\[?[^\n]{0,20}\{(25|39|59|11|8|6)/
        $monero = "[48][0-9AB]"
    condition:
        ($paste or $get_data or $clipboard_get or $ps_get)
        and ($copy or $set_data or $clipboard_append or $ps_set)
        and ($base58 or $base58b or $eth or $bech32 or $monero)
}

rule spyware_keylogger
{
    meta:
        description = "keyboard hooks (pynput, keyboard, pyHook, GetAsyncKeyState, SetWindowsHookEx) in a file that sends data to a webhook, mail or FTP server"
        weight = 8
        filetype = ".py .pyw .pth"
    strings:
        $pynput = "pynput"
        $keyboard_mod = /import\s+keyboard\b/
        $pyhook = /pyw?hook/ nocase
        $async_key = "GetAsyncKeyState"
        $hook_ex = "SetWindowsHookEx"
        $listener = "Listener("
        $on_press = "on_press"
        $on_release = "on_release"
        $kb_hook = /keyboard\s*\.\s*(hook|on_press|on_release)\s*\(/
        $hook_manager = "HookManager"
    condition:
        ($pynput or $keyboard_mod or $pyhook or $async_key or $hook_ex)
        and ($listener or $on_press or $on_release or $kb_hook or $hook_manager or $async_key or $hook_ex)
        and spyware_exfil_channel
}
