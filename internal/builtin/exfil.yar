/*
    exfil.yar: channels that malicious packages send stolen data through.

    A library has no reason to carry the address of somebody's Discord or
    Slack webhook, a Telegram bot token, or an out-of-band interaction
    domain of the kind used to confirm that a dependency-confusion payload
    ran. Templates with placeholders (as in webhook client libraries) are
    not matched: the rules want concrete identifiers.
*/

rule exfil_discord_webhook_url
{
    meta:
        description = "a concrete Discord webhook URL (id and token), the most common exfiltration channel of PyPI stealers"
        weight = 6
        filetype = ".py .pyw .pth"
    strings:
        $url = /discord(app)?\.com\/api\/(v\d{1,2}\/)?webhooks\/[0-9]{1,20}\/[A-Za-z0-9_-]{3,}/
    condition:
        $url
}

rule exfil_telegram_bot_token
{
    meta:
        description = "a hard-coded Telegram bot token next to the Bot API host"
        weight = 6
        filetype = ".py .pyw .pth"
    strings:
        $url = /api\.telegram\.org\/bot[0-9]{6,12}:[A-Za-z0-9_-]{30,}/
        $token = /token\w{0,20}\s*=\s*['"][0-9]{6,12}:[A-Za-z0-9_-]{30,}['"]/ nocase
        $host = "api.telegram.org"
    condition:
        $url or ($token and $host)
}

rule exfil_webhook_with_host_info
{
    meta:
        description = "a Discord/Slack/Telegram webhook together with collection of the user name, host name or public IP"
        weight = 8
        filetype = ".py .pyw .pth"
    strings:
        $discord = /discord(app)?\.com\/api\/(v\d{1,2}\/)?webhooks\//
        $slack = "hooks.slack.com/services/"
        $telegram = "api.telegram.org/bot"
        $getuser = "getpass.getuser("
        $getlogin = "os.getlogin("
        $hostname = "socket.gethostname("
        $node = "platform.node("
        $uname = "platform.uname("
        $mac = "uuid.getnode("
        $ipify = "api.ipify.org"
        $ipinfo = "ipinfo.io"
        $ifconfig = "ifconfig.me"
        $checkip = "checkip.amazonaws.com"
        $screenshot = "ImageGrab.grab("
    condition:
        ($discord or $slack or $telegram) and 2 of ($getuser, $getlogin, $hostname, $node, $uname, $mac, $ipify, $ipinfo, $ifconfig, $checkip, $screenshot)
}

rule exfil_oast_domain
{
    meta:
        description = "an out-of-band interaction or request-catcher domain (interactsh, Burp Collaborator, webhook.site, pipedream, dnslog), typical of dependency-confusion payloads"
        weight = 6
        filetype = ".py .pyw .pth"
    strings:
        $oast = /\.oast\.(fun|pro|live|site|online|me)\b/
        $interactsh = "interact.sh"
        $burp = "burpcollaborator.net"
        $oastify = "oastify.com"
        $webhook_site = "webhook.site/"
        $pipedream = ".m.pipedream.net"
        $requestbin = "requestbin.net"
        $dnslog = "dnslog.cn"
        $ceye = ".ceye.io"
        $canary = "canarytokens.com"
    condition:
        any of them
}
