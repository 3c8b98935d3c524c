// What a sweep will write, estimated from its grid before a run is trained: `flowsweep validate` prints it,
// and `flowsweep run` warns when the output directory's file system has less room than it needs. A sweep
// of 10^6 runs can write tens of gigabytes; a cluster's scratch quota should say so before the job starts,
// not an hour into it.
#pragma once

#include <string>

#include "host/grid.h"

namespace fs {

// Bytes of each file, for runs that take every step: a run that stops early or diverges writes fewer
// records, so these are upper bounds on the series and close on the rest. The tables' text is counted at
// an average width a number (shortest round trip, as the tables write it).
struct Footprint {
  double journal = 0;                        // journal.fsj: every record, kept for resume and merge
  double trajectories = 0;                   // trajectories.h5 (its series padded to the longest run's records)
  double runs_csv = 0;                       // runs.csv and phase_diagram.csv
  double final_config = 0;                   // final_config.csv, for a model with an attention table
  double csv_trajectories = 0;               // trajectories.csv: written with --csv-trajectories
  double params_journal = 0, params_h5 = 0;  // what --save-params adds to the journal and trajectories.h5

  // What a run with these options writes, the options' parts folded into their files.
  Footprint written(bool save_params, bool csv_trajectories) const {
    Footprint f = *this;
    f.journal += save_params ? params_journal : 0, f.trajectories += save_params ? params_h5 : 0;
    f.params_journal = f.params_h5 = 0;
    if (!csv_trajectories) f.csv_trajectories = 0;
    return f;
  }
  double total() const { return journal + trajectories + runs_csv + final_config + csv_trajectories; }
  Footprint scaled(double s) const {
    return {journal * s,          trajectories * s,   runs_csv * s, final_config * s,
            csv_trajectories * s, params_journal * s, params_h5 * s};
  }
};

// From the totals the grid gathered as it checked its cells.
Footprint output_footprint(const Grid& grid);

// "about 4.1 MB (trajectories.h5 2.1 MB, journal.fsj 1.9 MB, ...)": the files of over 1% of the total, for
// a footprint that `written` has folded.
std::string describe_footprint(const Footprint& f);

// "DIR has 68 GB free, and WHAT" where the file system holding `dir` has less room than `bytes`; "" where it
// has room or cannot say.
std::string short_of_room(const std::string& dir, double bytes, const std::string& what);

// "812 kB", "4.1 MB", "16 GB": decimal units, two or three significant digits.
std::string format_bytes(double bytes);

}  // namespace fs
