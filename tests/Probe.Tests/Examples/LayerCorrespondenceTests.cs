using LayerCorrespondence;
using Xunit;

namespace Probe.Tests.Examples;

/// <summary>
/// A small run of examples/LayerCorrespondence (Kornblith et al. 2019, Table 2): across CNNs trained from different
/// seeds, CKA finds the corresponding layer more often than the linear-regression and mean-CCA baselines.
/// </summary>
[Collection(SerialTorchCollection.Name)]
public class LayerCorrespondenceTests
{
    [Fact]
    public void CkaFindsCorrespondingLayersMoreOftenThanTheBaselines()
    {
        var settings = new CorrespondenceSettings(Seeds: 3, Epochs: 2, MaxSamples: 120) { Architectures = ["cnn"], Datasets = ["digits"], CnnWidths = [8, 16, 32] };
        var log = new StringWriter();
        var result = LayerCorrespondenceStudy.Run(settings, log);

        var row = Assert.Single(result.Rows);
        Assert.Equal(["relu1", "pool1", "relu2", "pool2", "relu3", "fc2"], row.Layers);
        Assert.All(row.Measures, m => Assert.Equal(3 * 2 * 6, m.Total)); // ordered pairs x layers
        double linear = row.Measures[0].Accuracy, rbf = row.Measures[1].Accuracy;
        double regression = row.Measures[2].Accuracy, cca = row.Measures[3].Accuracy;
        Assert.True(linear > regression && linear > cca, log.ToString());
        Assert.True(rbf > regression && rbf > cca, log.ToString());
        Assert.Contains("Kornblith 2019", log.ToString());
    }

    /// <summary>
    /// The paper's row the example prints is the README's: only the figure checked (linear CKA's 99.3%), "see paper"
    /// for the columns that could not be checked (it once printed five unchecked figures the README had dropped).
    /// </summary>
    [Fact]
    public void ThePublishedRowIsTheReadmesRow()
    {
        string readme = File.ReadAllText(Path.Combine(Probe.Tests.Docs.NotebookRunner.RepoRoot(), "README.md"));
        var readmeRows = readme.Split('\n').Where(l => l.StartsWith("| Kornblith 2019 (CIFAR-10 plain-10", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(readmeRows);
        foreach (string line in readmeRows)
        {
            var cells = line.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();
            Assert.Equal(["10", "9"], cells[1..3]);
            Assert.Equal(LayerCorrespondenceStudy.Published, cells[3..]);
        }

        string table = LayerCorrespondenceStudy.Table(new CorrespondenceResult([], LayerCorrespondenceStudy.MeasureNames));
        string printed = Assert.Single(table.Split('\n'), l => l.StartsWith("Kornblith 2019", StringComparison.Ordinal));
        foreach (string cell in LayerCorrespondenceStudy.Published.Where(c => c != "-")) Assert.Contains(cell, printed);
        Assert.DoesNotContain("45.4%", printed);
    }
}
