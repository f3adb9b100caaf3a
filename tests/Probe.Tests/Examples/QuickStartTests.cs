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
    public void TheReadmeShowsTheYourModelExampleVerbatim()
    {
        string root = NotebookRunner.RepoRoot();
        string source = File.ReadAllText(Path.Combine(root, "examples", "QuickStart", "YourModelExample.cs")).ReplaceLineEndings("\n");
        int a = source.IndexOf("// <yourmodel>", StringComparison.Ordinal), b = source.IndexOf("// </yourmodel>", StringComparison.Ordinal);
        Assert.True(a >= 0 && b > a, "markers not found");
        string readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        Assert.Contains(source[(a + "// <yourmodel>".Length)..b].Trim(), readme);
    }

    [Fact]
    public void TheYourModelExampleRunsOnATrainedModelFromSafetensors()
    {
        string dir = Path.Combine(Path.GetTempPath(), "probe-yourmodel-" + Guid.NewGuid().ToString("N"));
        try
        {
            var log = new StringWriter();
            YourModelExample.Run("mlp:64-128-64-32-10:relu", Probe.Tests.Cli.Cli.Fixture("digits_mlp.safetensors"), "digits", dir, log);
            string text = log.ToString();
            // The PyTorch-trained digits MLP: expected.json's dead units of relu1..relu3 are in the fixture's tests; here
            // the steps run and report: every ReLU, the last ReLU's CKA with the input, the embedding, the report.
            foreach (var relu in new[] { "relu1", "relu2", "relu3" }) Assert.Contains(relu + ":", text);
            Assert.Matches(@"CKA\(input, relu3\) = 0\.\d{3}", text);
            Assert.Contains("t-SNE: 1000 x 2", text);
            Assert.True(File.Exists(Path.Combine(dir, "index.html")));
            Assert.True(File.Exists(Path.Combine(dir, "report.json")));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
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
