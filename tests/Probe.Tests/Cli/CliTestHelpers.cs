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

    /// <summary>Starts <c>dotnet Probe.Cli.dll ARGS</c> from the test output folder.</summary>
    public static CliProcess Start(params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Probe.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        return new CliProcess(System.Diagnostics.Process.Start(psi)!);
    }

    public bool HasExited => Process.HasExited;
    public int ExitCode => Process.ExitCode;

    /// <summary>Sends SIGINT (what Ctrl-C sends) and waits up to 30 s for the process to end; false if it did not.</summary>
    public bool InterruptAndWait()
    {
        using (var kill = System.Diagnostics.Process.Start("kill", ["-INT", Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
        return Process.WaitForExit(30_000);
    }

    public void Dispose()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Process.Dispose();
    }
}
