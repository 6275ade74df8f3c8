/*
    setup.yar: code that runs when pip builds or installs an sdist.

    setup.py runs with the installing user's rights before the user has seen
    a line of the package, which makes it the favourite entry point of
    malicious uploads. A normal setup.py describes the package and calls
    setup(); it does not reach the network, run shell commands, or replace
    the install command with one of its own. Every rule here has the
    filetype "setup.py", so that the same code in a library module (where it
    only runs when the user calls it) does not count.
*/

// The file looks like a setup script at all: it mentions setuptools or
// distutils or calls setup(). The filetype already limits these rules to
// setup.py; this keeps them from matching ordinary modules in the first
// place, so that raw matches (before filetype) stay meaningful too.
private rule setup_script
{
    strings:
        $setuptools = "setuptools"
        $distutils = "distutils"
        $setup_call = /[^.\w]setup\s*\(/
    condition:
        any of them
}

private rule setup_exec_sink
{
    strings:
        $subprocess = /subprocess\s*\.\s*(Popen|call|run|check_call|check_output|getoutput|getstatusoutput)\s*\(/
        $os = /os\s*\.\s*(system|popen|startfile|spawn[lv]p?e?|exec[lv]p?e?)\s*\(/
        $bare = /[^.\w](Popen|check_output|check_call)\s*\(/
        // exec(open("pkg/version.py").read()) is the classic way to read a version: not a sink.
        $exec = /[^.\w](exec|eval)\s*\(\s*([^o\s]|o[^p])/
        $url = /(urlopen|urlretrieve)\s*\(/
        $requests = /requests\s*\.\s*(get|post|put|request)\s*\(/
        $socket = /socket\s*\.\s*(socket|create_connection)\s*\(/
    condition:
        any of them
}

rule setup_shell_download
{
    meta:
        description = "setup.py runs a shell command that downloads something (curl, wget, PowerShell, certutil, bitsadmin)"
        weight = 9
        filetype = "setup.py"
    strings:
        $subprocess = /subprocess\s*\.\s*(Popen|call|run|check_call|check_output|getoutput|getstatusoutput)\s*\(/
        $os = /os\s*\.\s*(system|popen|startfile|spawn[lv]p?e?|exec[lv]p?e?)\s*\(/
        $bare = /[^.\w](Popen|check_output|check_call)\s*\(/
        $curl = /['"\s,\[(](curl|wget)(\.exe)?['"\s,]/
        $iwr = "Invoke-WebRequest" nocase
        $dls = "DownloadString" nocase
        $dlf = "DownloadFile" nocase
        $certutil = "certutil" nocase
        $bits = "bitsadmin" nocase
    condition:
        setup_script and ($subprocess or $os or $bare) and ($curl or $iwr or $dls or $dlf or $certutil or $bits)
}

rule setup_os_system
{
    meta:
        description = "setup.py calls os.system/os.popen for something other than the usual publish helpers (python setup.py sdist, twine, git)"
        weight = 5
        filetype = "setup.py"
    strings:
        $sys = /os\s*\.\s*(system|popen)\s*\(/
        // Each of these starts where a $sys match starts, so #sys > #publish
        // means at least one call is something else.
        $publish = /os\s*\.\s*(system|popen)\s*\(\s*(f?['"](python3?\s|twine\s|git\s|rm\s+-r?f?\s*(build|dist|\*\.egg-info)|pip3?\s|\{sys\.executable\}|%s\s|cls['"]|clear['"]|make\s)|sys\.executable|['"]\{\}\s[^'"\n]{0,80}['"]\s*\.\s*format\(\s*sys\.executable)/
    condition:
        setup_script and #sys > #publish
}

rule setup_network_request
{
    meta:
        description = "setup.py talks to the network (urllib, requests, httpx, http.client, raw sockets) while being built or installed"
        weight = 6
        filetype = "setup.py"
    strings:
        $urllib = /(urllib2?|request)\s*\.\s*(urlopen|urlretrieve|Request)\s*\(/
        $bare = /[^.\w](urlopen|urlretrieve)\s*\(/
        $requests = /requests\s*\.\s*(get|post|put|request|Session)\s*\(/
        $httpx = /httpx\s*\.\s*(get|post|Client|stream)\s*\(/
        $http_client = /[^\w](HTTPS?Connection)\s*\(/
        $socket = /socket\s*\.\s*(socket|create_connection)\s*\(/
    condition:
        setup_script and any of them
}

rule setup_cmdclass_install_hook
{
    meta:
        description = "setup.py replaces the install, develop or egg_info command with a class whose code runs programs, evaluates code or reaches the network"
        weight = 7
        filetype = "setup.py"
    strings:
        $import = /(from\s+(setuptools|distutils)\.command(\.(install|develop|egg_info))?\s+import|(setuptools|distutils)\.command\.(install|develop|egg_info))/
        $dict = /cmdclass\s*=\s*\{[^}]{0,400}['"](install|develop|egg_info)['"]\s*:/
        $call = /cmdclass\s*=\s*dict\([^)]{0,400}\b(install|develop|egg_info)\s*=/
        $key = /['"](install|develop|egg_info)['"]\s*:\s*[A-Za-z_]\w*\s*[,}]/
        $cmdclass = "cmdclass"
        $run = /def\s+run\s*\(\s*self\s*\)\s*:/
    condition:
        setup_script and $import and $run and ($dict or $call or ($cmdclass and $key)) and setup_exec_sink
}
