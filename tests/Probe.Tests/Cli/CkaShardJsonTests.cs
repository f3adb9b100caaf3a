using Probe.Cli;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>A minibatch CKA shard writes partial sums, not a result: --json is refused (as for 'probe dead --shard'), so stdout never holds text where a script expects JSON.</summary>
public class CkaShardJsonTests
{
    [Fact]
    public void Cka_shard_with_json_exits_two_and_writes_nothing()
    {
        string dir = Cli.TempDir("ckashardjson");
        try
        {
            string outDir = Path.Combine(dir, "part0");
            var (code, output, err) = Cli.Run("cka", "--model", "mlp:64-8-10:relu", "--random-weights", "--data", "digits",
                "--method", "minibatch", "--shard", "0/2", "--out", outDir, "--json");
            Assert.Equal(ExitCodes.Usage, code);
            Assert.Equal("", output);
            Assert.Contains("--json", err);
            Assert.False(Directory.Exists(outDir));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
