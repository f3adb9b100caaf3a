namespace Probe.Cli;

public static class ProbeCli
{
    public static Task<int> RunAsync(string[] args) => Task.FromResult(0);
}
