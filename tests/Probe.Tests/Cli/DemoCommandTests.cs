using System.Text.Json;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>The README's main job: `probe demo` writes a report folder with every section and its figures.</summary>
public class DemoCommandTests
{
    [Fact]
    public void QuickDemoWritesEverySectionWithFiguresAndNumbers()
    {
        string dir = Cli.TempDir("demo");
        try
        {
            var (code, output, err) = Cli.Run("demo", "--quick", "--out", dir);
            Assert.True(code == 0, err);
            Assert.Contains("Report written to", output);
            string index = File.ReadAllText(Path.Combine(dir, "index.html"));
            using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
            var sections = report.RootElement.GetProperty("sections").EnumerateArray().Select(s => s.GetProperty("name").GetString()!).ToList();
            Assert.Contains("Training", sections);
            Assert.True(sections.Count >= 3, "sections: " + string.Join(", ", sections));
            // Every figure the page shows exists, and there are figures.
            var images = System.Text.RegularExpressions.Regex.Matches(index, "src=\"([^\"]+\\.png)\"").Select(m => m.Groups[1].Value).ToList();
            Assert.NotEmpty(images);
            Assert.All(images, img => FileAssert.Png(Path.Combine(dir, img)));
            // Both runs are there with a checkpoint per epoch (4 in quick mode, plus epoch 0).
            Assert.Equal(5, Probe.Models.RunFolder.Load(Path.Combine(dir, "runs", "main")).Checkpoints.Count);
            Assert.Equal(5, Probe.Models.RunFolder.Load(Path.Combine(dir, "runs", "high-lr")).Checkpoints.Count);
        }
        finally { Directory.Delete(dir, true); }
    }
}
