/*
    credentials.yar: code that goes looking for secrets on the user's disk.

    Stealers read the browsers' saved passwords and cookies (Login Data,
    Cookies, Web Data, decrypted with the key in Local State), the Discord
    client's token store, cloud and SSH keys, and crypto wallets. A package
    that names one of these files may have a good reason (a cloud SDK reads
    ~/.aws/credentials); one that names several families of them, or names
    one and sends data out, has not.
*/

private rule credentials_sender
{
    strings:
        $requests = /requests\s*\.\s*(post|put)\s*\(/
        $urlopen = /urlopen\s*\(/
        $urllib = "urllib.request"
        $http = /HTTPS?Connection\s*\(/
        $smtp = "smtplib"
        $ftp = "ftplib"
        $socket = /socket\s*\.\s*(socket|create_connection)\s*\(/
        $webhook = "/api/webhooks/"
        $telegram = "api.telegram.org"
        $slack = "hooks.slack.com"
    condition:
        any of them
}

rule credentials_browser_store
{
    meta:
        description = "paths of Chromium-based browsers' saved passwords, cookies or autofill together with their Local State key or DPAPI decryption"
        weight = 7
        filetype = ".py .pyw .pth"
    strings:
        $login_data = "Login Data"
        $web_data = "Web Data"
        $cookies = /(Network|Default|Profile \d{1,3})['"]?\s*(\\\\|\/|,\s*['"])\s*Cookies['"]/
        $local_state = "Local State"
        $encrypted_key = "encrypted_key"
        $dpapi = "CryptUnprotectData"
        $chrome = "Chrome"
        $edge = /Microsoft(\\{1,2}|\/|['"]\s*,\s*['"])Edge/
        $brave = "BraveSoftware"
        $opera = "Opera Software"
        $yandex = "YandexBrowser"
        $vivaldi = "Vivaldi"
        $chromium = "Chromium"
    condition:
        ($login_data or $web_data or $cookies)
        and ($local_state or $encrypted_key or $dpapi)
        and any of ($chrome, $edge, $brave, $opera, $yandex, $vivaldi, $chromium)
}

rule credentials_discord_token
{
    meta:
        description = "Discord token grabber: reads the Discord client's Local Storage leveldb or hunts for token patterns"
        weight = 9
        filetype = ".py .pyw .pth"
    strings:
        $leveldb = "leveldb"
        $local_storage = "Local Storage"
        $discord = "discord" nocase
        // prefix of the tokens the desktop client encrypts with DPAPI
        $encrypted = "dQw4w9WgXcQ"
        $token_re = "[\\w-]{24}\\.[\\w-]{6}\\.[\\w-]{27}"
        $token_re2 = "[\\w-]{24,26}\\.[\\w-]{6}\\.[\\w-]{25,110}"
        $mfa_re = "mfa\\.[\\w-]{84}"
    condition:
        $encrypted
        or ($leveldb and $discord and ($local_storage or any of ($token_re, $token_re2, $mfa_re)))
}

rule credentials_cloud_and_ssh_keys
{
    meta:
        description = "two or more kinds of cloud/SSH/registry credential files (AWS, SSH keys, Docker, kube, git, netrc, pypirc, gcloud, Azure) in a file that also sends data out"
        weight = 8
        filetype = ".py .pyw .pth"
    strings:
        $aws = /\.aws(\/|\\\\|['"]\s*,\s*['"])credentials/
        $ssh = /\.ssh(\/|\\\\|['"]\s*,\s*['"])id_(rsa|dsa|ecdsa|ed25519)/
        $docker = /\.docker(\/|\\\\|['"]\s*,\s*['"])config\.json/
        $kube = /\.kube(\/|\\\\|['"]\s*,\s*['"])config/
        $git = ".git-credentials"
        $netrc = /['"\/\\~]\.netrc['"]/
        $pypirc = ".pypirc"
        $gcloud = "application_default_credentials.json"
        $gcloud2 = /gcloud(\/|\\\\|['"]\s*,\s*['"])(credentials\.db|access_tokens\.db|legacy_credentials)/
        $azure = /\.azure(\/|\\\\|['"]\s*,\s*['"])(accessTokens\.json|msal_token_cache)/
    condition:
        2 of them and credentials_sender
}

rule credentials_crypto_wallets
{
    meta:
        description = "paths of two or more desktop crypto wallets or wallet browser extensions"
        weight = 8
        filetype = ".py .pyw .pth"
    strings:
        $exodus = "exodus.wallet" nocase
        $electrum = /Electrum(\/|\\\\|['"]\s*,\s*['"])wallets/ nocase
        $ethereum = /Ethereum(\/|\\\\|['"]\s*,\s*['"])keystore/ nocase
        $atomic = /atomic(\/|\\\\|['"]\s*,\s*['"])Local Storage/ nocase
        $armory = /Armory(\/|\\\\|['"]\s*,\s*['"])/ nocase
        $coinomi = /Coinomi(\/|\\\\|['"]\s*,\s*['"])Coinomi/ nocase
        $jaxx = "com.liberty.jaxx"
        $wallet_dat = "wallet.dat"
        $metamask = "nkbihfbeogaeaoehlefnkodbefgpgknn"
        $phantom = "bfnaelmomeimhlpmgjnjophhpkkoljpa"
        $coinbase = "hnfanknocfeofbddgcijnmhnfnkdnaad"
        $binance = "fhbohimaelbohpjbbldcngcnapndodjp"
        $tronlink = "ibnejdfjmmkpcnlpebklmnkoeoihofec"
    condition:
        2 of them
}
