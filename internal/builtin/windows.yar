/*
    windows.yar: Windows tradecraft in Python packages.

    PowerShell with an encoded command or a hidden window, the living-off-
    the-land binaries that download files (certutil, bitsadmin, mshta,
    regsvr32), turning Windows Defender off or excluding a path from it, and
    registering a program to start at logon. These rules count in Python
    sources and in Windows scripts; README instructions such as installer
    one-liners do not count.
*/

rule windows_powershell_encoded
{
    meta:
        description = "PowerShell started with an encoded command, or hidden and bypassing policy, or downloading a script into Invoke-Expression"
        weight = 8
        filetype = ".py .pyw .pth .bat .cmd .ps1 .vbs"
    strings:
        $powershell = "powershell" nocase
        $enc_long = "-EncodedCommand" nocase
        $enc = "-enc " nocase
        $enc_ec = /\s-ec?\s+[A-Za-z0-9+\/]{40}/
        $hidden = /-w(indowstyle)?\s+h(idden)?\b/ nocase
        $bypass = /-(ep|exec|executionpolicy)\s+bypass/ nocase
        $iex = /\b(iex|Invoke-Expression)\s*[\s(]/ nocase
        $download = /(DownloadString|DownloadFile|DownloadData|Invoke-WebRequest|Net\.WebClient)/ nocase
        $frombase64 = "FromBase64String" nocase
    condition:
        $powershell
        and ($enc_long or $enc or $enc_ec
             or ($hidden and ($bypass or $iex or $download or $frombase64))
             or ($iex and ($download or $frombase64)))
}

rule windows_lolbin_download
{
    meta:
        description = "Windows binaries abused to download or decode payloads: certutil -urlcache/-decode, bitsadmin /transfer, mshta URL, regsvr32 /i:URL, rundll32 javascript:"
        weight = 7
        filetype = ".py .pyw .pth .bat .cmd .ps1 .vbs"
    strings:
        $certutil = /certutil(\.exe)?\s+[-\/](urlcache|decode|decodehex)\b/ nocase
        $bitsadmin = /bitsadmin(\.exe)?\s+\/transfer\b/ nocase
        $mshta = /mshta(\.exe)?\s+['"]?(https?|vbscript|javascript):/ nocase
        $regsvr32 = /regsvr32(\.exe)?\s[^\n]{0,80}\/i:\s*['"]?https?:/ nocase
        $rundll32 = /rundll32(\.exe)?\s[^\n]{0,80}javascript:/ nocase
    condition:
        any of them
}

rule windows_defender_tampering
{
    meta:
        description = "Windows Defender disabled or told to exclude paths/processes (Set-/Add-MpPreference, DisableAntiSpyware)"
        weight = 8
        filetype = ".py .pyw .pth .bat .cmd .ps1 .vbs"
    strings:
        $add = "Add-MpPreference" nocase
        $set = "Set-MpPreference" nocase
        $excl = /-Exclusion(Path|Process|Extension)\b/ nocase
        $realtime = "DisableRealtimeMonitoring" nocase
        $ioav = "DisableIOAVProtection" nocase
        $antispyware = "DisableAntiSpyware" nocase
        $reg_excl = /Windows Defender\\{1,2}Exclusions/ nocase
    condition:
        (($add or $set) and ($excl or $realtime or $ioav)) or $antispyware or $reg_excl
}

rule windows_autorun_persistence
{
    meta:
        description = "persistence: a Run/RunOnce registry value, a copy into the Startup folder, a scheduled task or an @reboot cron job"
        weight = 6
        filetype = ".py .pyw .pth"
    strings:
        $run_key = /CurrentVersion\\{1,2}Run(Once)?\b/ nocase
        $set_value = "SetValueEx"
        $reg_add = /reg(\.exe)?\s+add\s/ nocase
        $new_item = "New-ItemProperty" nocase
        $startup = /Start Menu\\{1,2}Programs\\{1,2}Startup/ nocase
        $shell_startup = "shell:startup" nocase
        $copy = /shutil\s*\.\s*(copy|copy2|copyfile|move)\s*\(/
        $write = /open\s*\([^\n]{0,200}['"]wb?['"]/
        $schtasks = /schtasks(\.exe)?\s+\/create\b/ nocase
        $reboot = "@reboot"
        $crontab = "crontab"
    condition:
        ($run_key and ($set_value or $reg_add or $new_item))
        or (($startup or $shell_startup) and ($copy or $write))
        or $schtasks
        or ($reboot and $crontab)
}
