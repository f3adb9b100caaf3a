using Probe.Tests.Docs;
using Xunit;

namespace Probe.Tests.Examples;

public class QuickStartTests
{
    [Fact]
    public void TheReadmeShowsTheQuickStartExampleVerbatim()
    {
        string root = NotebookRunner.RepoRoot();
        string source = File.ReadAllText(Path.Combine(root, "examples", "QuickStart", "QuickStartExample.cs"));
        string Between(string text, string open, string close)
        {
            int a = text.IndexOf(open, StringComparison.Ordinal), b = text.IndexOf(close, StringComparison.Ordinal);
            Assert.True(a >= 0 && b > a, $"markers {open} .. {close} not found");
            return text[(a + open.Length)..b].Trim().ReplaceLineEndings("\n");
        }
        string code = Between(source, "// <quickstart>", "// </quickstart>");
        string readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        Assert.Contains(code, readme);
    }

    [Fact]
    public void TheQuickStartExampleRunsAndReportsEveryStep()
    {
        string dir = Path.Combine(Path.GetTempPath(), "probe-quickstart-" + Guid.NewGuid().ToString("N"));
        try
        {
            var log = new StringWriter();
            QuickStartExample.Run(dir, log, epochs: 1);
            string text = log.ToString();
            Assert.Contains("relu3", text);
            Assert.Contains("dead of 128 units", text);
            Assert.Matches(@"CKA\(fc1, fc4\) = 0\.\d{3}", text);
            Assert.Contains("1000 x 2", text);
            var run = Probe.Models.RunFolder.Load(dir);
            Assert.Equal([0, 1], run.Checkpoints.Select(c => c.Epoch));
            Assert.All(run.Checkpoints, c => Assert.Contains("fc1.weight", FileAssert.SafeTensors(Path.Combine(dir, c.File))));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
