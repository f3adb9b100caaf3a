using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Probe.Analysis;
using Probe.Reporting;
using Xunit;

namespace Probe.Tests.Reporting;

public class JsonAndReportTests
{
    public sealed record LayerStat(string Layer, double DeadFraction, float[] Rates);
    public sealed record Result(string Model, LayerStat[] Layers, Dictionary<string, double> Cka);

    private static Result Sample(double dead = 0.25) => new("mlp",
        [new LayerStat("relu1", dead, [0.5f, 0.125f])],
        new() { ["relu2"] = 0.75, ["fc1"] = 1.5, ["b"] = 2 });

    [Fact]
    public void Json_is_indented_camel_case_with_sorted_dictionary_keys()
    {
        var json = JsonOutput.Serialize(Sample());
        using var doc = JsonDocument.Parse(json);
        Assert.Equal("mlp", doc.RootElement.GetProperty("model").GetString());
        Assert.Equal(0.25, doc.RootElement.GetProperty("layers")[0].GetProperty("deadFraction").GetDouble());
        var keys = doc.RootElement.GetProperty("cka").EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(new[] { "b", "fc1", "relu2" }, keys);
        Assert.Contains("\n  \"model\"", json);
        Assert.Equal(json, JsonOutput.Serialize(Sample()));
    }

    [Fact]
    public void Json_refuses_nan_and_infinity_naming_the_field()
    {
        var ex = Assert.Throws<ProbeException>(() => JsonOutput.Serialize(Sample(double.NaN)));
        Assert.Contains("DeadFraction", ex.Message);
        Assert.Contains("NaN", ex.Message);
        var withInf = Sample() with { Cka = new() { ["fc2"] = double.PositiveInfinity } };
        ex = Assert.Throws<ProbeException>(() => JsonOutput.Serialize(withInf));
        Assert.Contains("fc2", ex.Message);
        Assert.Contains("Infinity", ex.Message);
        var withFloatNaN = new LayerStat("x", 0, [float.NaN]);
        ex = Assert.Throws<ProbeException>(() => JsonOutput.Serialize(withFloatNaN));
        Assert.Contains("Rates", ex.Message);
    }

    [Fact]
    public void Json_and_tables_use_invariant_culture_under_a_comma_decimal_culture()
    {
        var saved = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo comma;
            try { comma = new CultureInfo("de-DE"); }
            catch (CultureNotFoundException)
            {
                // Invariant-globalization builds have no de-DE data: build a culture with German number separators.
                comma = (CultureInfo)CultureInfo.InvariantCulture.Clone();
                comma.NumberFormat.NumberDecimalSeparator = ",";
                comma.NumberFormat.NumberGroupSeparator = ".";
            }
            CultureInfo.CurrentCulture = comma;
            Assert.Equal("0,5", 0.5.ToString(CultureInfo.CurrentCulture)); // the culture really uses a comma
            var json = JsonOutput.Serialize(Sample());
            Assert.Contains("\"deadFraction\": 0.25", json);
            Assert.Contains("1.5", json);
            Assert.Equal("0.25", TextTable.Number(0.25));
            Assert.Equal("1234.5", TextTable.Cell(1234.5));
            var table = TextTable.Render(["x"], [[TextTable.Cell(2.5)]]);
            Assert.Contains("2.5", table);
            Assert.DoesNotContain("2,5", table);
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }

    [Fact]
    public void TextTable_aligns_columns_and_right_aligns_numbers()
    {
        var text = TextTable.Render(["layer", "dead"], [["relu1", "0.25"], ["relu10", "1"]]);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.Equal("layer   dead", lines[0]);
        Assert.Equal("------  ----", lines[1]);
        Assert.Equal("relu1   0.25", lines[2]);
        Assert.Equal("relu10  1.00", lines[3]);
        Assert.Throws<ProbeException>(() => TextTable.Render(["a", "b"], [["1"]]));
    }

    /// <summary>
    /// The report's training table showed 0.959 under 0.9499 and 0.05 under 0.0604 (Number drops trailing zeros): a
    /// column of decimals now shows one number of places, the most any cell of it needs; integers, text, percentages
    /// and scientific notation are left as they are.
    /// </summary>
    /// <summary>
    /// The summary said "all dead since epoch 20; 2 from initialisation, 62 died in training" for units that had died one
    /// by one from epoch 1 on (read: they died at epoch 20). It gives the first and last epoch of the deaths now. The
    /// timeline of the firing rates below, worked by hand: unit 0 dead throughout, unit 1 dead from epoch 5, unit 2
    /// dead at 5, alive at 10, dead from 15, unit 3 alive.
    /// </summary>
    [Fact]
    public void The_dead_unit_summary_says_between_which_epochs_units_died()
    {
        int[] epochs = [0, 5, 10, 15];
        float[][] rates = [[0, 0.5f, 0.5f, 0.3f], [0, 0, 0, 0.2f], [0, 0, 0.1f, 0.1f], [0, 0, 0, 0.1f]];
        var t = DeadUnitDiagnosis.Timeline(epochs, rates);
        Assert.Equal("1 dead from initialisation, 2 died in training between epochs 5 and 15", Report.WhenDied([t[0], t[1], t[2]]));
        Assert.Equal("1 died in training at epoch 5", Report.WhenDied([t[1]]));
        Assert.Equal("1 dead from initialisation, 1 died in training at epoch 15", Report.WhenDied([t[0], t[2]]));
        Assert.Equal("dead from initialisation", Report.WhenDied([t[0]]));
    }

    [Fact]
    public void TextTable_shows_each_column_of_decimals_to_one_number_of_places()
    {
        var rows = TextTable.AlignDecimals([
            ["7", "0.9555", "0.05", "12%", "relu1", "1.5E-5", "3", ""],
            ["8", "0.959", "0.0604", "9.5%", "relu2", "0.25", "-2", "0.5"],
            ["9", "1", "-0.1", "1%", "3", "2", "10", "0.125"],
            ["10", "-", "0.5", "", "", "", "", "-"]]);
        Assert.Equal(["7", "0.9555", "0.0500", "12%", "relu1", "1.5E-5", "3", ""], rows[0]);
        Assert.Equal(["8", "0.9590", "0.0604", "9.5%", "relu2", "0.25", "-2", "0.500"], rows[1]);
        Assert.Equal(["9", "1.0000", "-0.1000", "1%", "3", "2", "10", "0.125"], rows[2]);
        Assert.Equal(["10", "-", "0.5000", "", "", "", "", "-"], rows[3]);
    }

    [Fact]
    public void ReportFolder_writes_json_and_an_index_whose_references_exist()
    {
        var dir = ReportingTestData.TempDir("report");
        var report = new ReportFolder(dir, "Digits MLP", FigureStyle.Column with { Dpi = 80 });
        report.AddText("Similarity", "Linear CKA between all layer pairs.");
        report.AddFigure("Similarity", "cka", Figures.Heatmap(ReportingTestData.SimilarityMatrix(3), ["a", "b", "c"], ["a", "b", "c"]), "Linear CKA <layer x layer>");
        report.AddTable("Dead units", "Per layer", ["layer", "dead"], [["relu1", 0.25], ["relu2", 0.5]]);
        report.AddJson("Dead units", "result", Sample());
        report.AddFigure("Dead units", "custom", path => FigureExporter.Save(Figures.Histogram([0.1, 0.2]), path), "Custom render");
        string index = report.Write();

        var html = File.ReadAllText(index);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Contains("Linear CKA &lt;layer x layer&gt;", html); // captions are HTML-encoded
        var refs = Regex.Matches(html, "(?:src|href)=\"([^\"#]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Contains("figures/similarity-cka.png", refs);
        Assert.Contains("figures/dead-units-custom.svg", refs);
        Assert.Contains("report.json", refs);
        foreach (var r in refs) Assert.True(File.Exists(Path.Combine(dir, r)), $"index.html references missing file {r}");
        FileAssert.Png(Path.Combine(dir, "figures/similarity-cka.png"));
        FileAssert.Svg(Path.Combine(dir, "figures/dead-units-custom.svg"));

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
        var sections = doc.RootElement.GetProperty("sections");
        Assert.Equal(2, sections.GetArrayLength());
        Assert.Equal("Similarity", sections[0].GetProperty("name").GetString());
        var dead = sections[1];
        Assert.Equal(0.25, dead.GetProperty("tables")[0].GetProperty("rows")[0][1].GetDouble());
        Assert.Equal(0.25, dead.GetProperty("data").GetProperty("result").GetProperty("layers")[0].GetProperty("dead_fraction").GetDouble());
        // The report is written once: staged, then moved into place.
        Assert.Throws<ProbeException>(() => report.Write());
    }

    [Fact]
    public void ReportFolder_refuses_nan_data_and_duplicate_figures()
    {
        var dir = ReportingTestData.TempDir("report-bad");
        var report = new ReportFolder(dir);
        var ex = Assert.Throws<ProbeException>(() => report.AddJson("S", "result", Sample(double.NaN)));
        Assert.Contains("DeadFraction", ex.Message);
        Assert.Contains("'result'", ex.Message);
        ex = Assert.Throws<ProbeException>(() => report.AddTable("S", "t", ["x"], [[double.NaN]]));
        Assert.Contains("row 0", ex.Message);
        report.AddFigure("S", "h", Figures.Histogram([0.1, 0.2]), "c");
        Assert.Throws<ProbeException>(() => report.AddFigure("S", "h", Figures.Histogram([0.1, 0.2]), "c"));
    }
}
