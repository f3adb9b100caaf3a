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
