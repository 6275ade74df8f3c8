/*
    miners.yar: cryptocurrency miners.

    A stratum URL is the address of a mining pool and has no business in a
    Python package; XMRig is the miner that cryptojacking packages download
    or bundle, and is matched when it comes with a pool or its command-line
    options rather than, say, in a list of process names to watch for. These
    rules have no filetype: pool addresses hide in JSON and text configs too.
*/

rule miners_stratum_url
{
    meta:
        description = "a stratum mining-pool URL (stratum+tcp://, stratum+ssl://, stratum2+tcp://)"
        weight = 8
    strings:
        $stratum = /stratum2?\+(tcp|ssl|tls):\/\// nocase
    condition:
        $stratum
}

rule miners_xmrig
{
    meta:
        description = "the XMRig miner together with a Monero pool, its download page or its command-line options"
        weight = 8
    strings:
        $xmrig = "xmrig" nocase
        $releases = "github.com/xmrig/xmrig/releases" nocase
        $supportxmr = "supportxmr.com" nocase
        $minexmr = "minexmr.com" nocase
        $moneroocean = "moneroocean.stream" nocase
        $nanopool = "nanopool.org" nocase
        $hashvault = "hashvault.pro" nocase
        $c3pool = "c3pool.com" nocase
        $herominers = "herominers.com" nocase
        $unmineable = "unmineable.com" nocase
        $donate = "--donate-level"
        $threads = "--cpu-max-threads-hint"
        $max_cpu = "--max-cpu-usage"
        $randomx = "randomx" nocase
    condition:
        $xmrig and ($releases or any of ($supportxmr, $minexmr, $moneroocean, $nanopool, $hashvault, $c3pool, $herominers, $unmineable, $donate, $threads, $max_cpu, $randomx))
}
