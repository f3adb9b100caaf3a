using Probe.Cli;

namespace Probe.Tests.Cli;

/// <summary>Runs the probe command in memory and captures what it printed.</summary>
internal static class Cli
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = ProbeCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    public static string Fixture(string name) => ReferenceFixtures.Shared(name);

    public static string TempDir(string prefix)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"probe-{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}

/// <summary>The built CLI as a child process (for signals and terminals), with stdout and stderr read as it runs.</summary>
internal sealed class CliProcess : IDisposable
{
    public System.Diagnostics.Process Process { get; }
    public Task<string> Err { get; }
    public Task<string> Out { get; }

    private CliProcess(System.Diagnostics.Process p)
    {
        Process = p;
        Err = p.StandardError.ReadToEndAsync();
        Out = p.StandardOutput.ReadToEndAsync();
    }

    /// <summary>
    /// Starts <c>dotnet Probe.Cli.dll ARGS</c> from the test output folder, with SIGINT's default disposition: a test run
    /// started in the background of a non-interactive shell (<c>.ci/run &amp;</c>) inherits SIGINT ignored, exec keeps it
    /// ignored, and the .NET runtime then leaves it so (as a background job should), so Ctrl-C could not be tested.
    /// GNU env's <c>--default-signal</c> resets it for the child; without GNU env the child is started as is.
    /// </summary>
    public static CliProcess Start(params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(ResetsSignals.Value ? "env" : "dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (ResetsSignals.Value) { psi.ArgumentList.Add("--default-signal=INT"); psi.ArgumentList.Add("dotnet"); }
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Probe.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        return new CliProcess(System.Diagnostics.Process.Start(psi)!);
    }

    /// <summary>Whether this host's env has GNU coreutils' <c>--default-signal</c> (8.31 and later).</summary>
    private static readonly Lazy<bool> ResetsSignals = new(() =>
    {
        try
        {
            using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("env", ["--default-signal=INT", "true"]) { RedirectStandardError = true, UseShellExecute = false })!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception) { return false; }
    });

    public bool HasExited => Process.HasExited;
    public int ExitCode => Process.ExitCode;

    /// <summary>
    /// Sends SIGINT (what Ctrl-C sends) and waits up to 30 s for the process to end; false if it did not. The signal
    /// goes by libc's kill(2) from this process: spawning /bin/kill from the test host took long enough on a loaded
    /// CI machine that a short command had finished before its signal arrived (and exited 0).
    /// </summary>
    public bool InterruptAndWait()
    {
        if (SendSignal(Process.Id, SigInt) != 0)
            throw new InvalidOperationException($"kill({Process.Id}, SIGINT) failed (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}); has exited: {Process.HasExited}.");
        return Process.WaitForExit(30_000);
    }

    private const int SigInt = 2;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    public void Dispose()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Process.Dispose();
    }
}
