# SAHarness: the one place that builds a Mail::SpamAssassin object for the
# agreement harness (sa-rules.pl, sa-hits.pl), so both scripts see exactly
# the same configuration.
#
# The setup mirrors `spamassassin -t -L` (script /usr/bin/spamassassin, which
# calls Mail::SpamAssassin->new with local_tests_only) with the state that
# could make results differ from run to run switched off:
#   - local_tests_only: no DNS, no Razor/Pyzor/DCC, no URIBL/RBL/SPF/DKIM
#     lookups (Dns.pm is_dns_available returns 0);
#   - use_bayes 0, bayes_auto_learn 0, AWL and TxRep off: no learning and
#     no per-user history, so score set 0 is chosen (SpamAssassin.pm init:
#     set |= 1 unless local_tests_only; set |= 2 only with a usable Bayes db);
#   - a private temporary HOME, userstate and global state dir, removed at
#     exit: nothing is read from or written to ~/.spamassassin;
#   - LANG=C (Conf/Parser.pm picks `lang xx` lines from the environment) and
#     TZ=UTC (dates without a zone are read in local time).
# Plugins are Debian's: every *.pre in the site directory (/etc/spamassassin),
# including Rule2XSBody (sa-compile.pre) unless --no-compiled.
package SAHarness;

use strict;
use warnings;

BEGIN {
  delete @ENV{qw(LANGUAGE LC_ALL LC_MESSAGES)};
  $ENV{LANG} = 'C';
  $ENV{TZ}   = 'UTC';
}

use File::Temp qw(tempdir);
use Getopt::Long qw(GetOptionsFromArray);
use Mail::SpamAssassin;

# Settings appended after every other config file, so they win over any
# rules directory, site file, --cf file or --prefs file.
my $FIXED_CF = <<'EOF';
use_bayes 0
use_bayes_rules 0
bayes_auto_learn 0
ifplugin Mail::SpamAssassin::Plugin::AWL
use_auto_whitelist 0
endif
ifplugin Mail::SpamAssassin::Plugin::TxRep
use_txrep 0
endif
ifplugin Mail::SpamAssassin::Plugin::DCC
use_dcc 0
endif
ifplugin Mail::SpamAssassin::Plugin::Razor2
use_razor2 0
endif
ifplugin Mail::SpamAssassin::Plugin::Pyzor
use_pyzor 0
endif
dns_available no
EOF

# usage text shared by both scripts (they add their own lines)
our $OPTIONS_HELP = <<'EOF';
  --rules DIR      stock rules directory (default: SpamAssassin's own choice,
                   /var/lib/spamassassin/<version> if sa-update ran, else
                   /usr/share/spamassassin)
  --site DIR       site directory: its *.pre load the plugins, its *.cf are
                   site rules (default /etc/spamassassin)
  --no-site-cf     read only the *.pre files of the site directory
  --cf FILE        extra config file read last (repeatable)
  --prefs FILE     user preferences file (default: none)
  --no-compiled    do not use the sa-compile'd body rules (Rule2XSBody)
  --debug AREAS    SpamAssassin debug facilities (e.g. all, rules), to stderr
  --allow-errors   go on when a config line is bad (SpamAssassin skips it);
                   by default any config error exits 1
EOF

# parse_options(\@ARGV, %extra) parses the common flags plus the caller's
# Getopt::Long specs in %extra (spec => ref). Dies with a message on error.
sub parse_options {
  my ($argv, %extra) = @_;
  my %o = (site => '/etc/spamassassin', cf => []);
  GetOptionsFromArray($argv,
    'rules=s'     => \$o{rules},
    'site=s'      => \$o{site},
    'no-site-cf'  => \$o{no_site_cf},
    'cf=s@'       => $o{cf},
    'prefs=s'     => \$o{prefs},
    'no-compiled' => \$o{no_compiled},
    'debug=s'     => \$o{debug},
    'allow-errors' => \$o{allow_errors},
    %extra,
  ) or die "bad options\n";
  die "unexpected arguments: @$argv\n" if @$argv;
  for my $d (grep { defined } $o{rules}, $o{site}) {
    die "not a directory: $d\n" unless -d $d;
  }
  for my $f (@{$o{cf}}, grep { defined } $o{prefs}) {
    die "cannot read $f\n" unless -f $f && -r $f;
  }
  return \%o;
}

sub slurp {
  my ($f) = @_;
  open(my $fh, '<', $f) or die "cannot read $f: $!\n";
  local $/;
  return scalar <$fh>;
}

# new_sa(\%opts, %new_args) returns an initialised Mail::SpamAssassin.
# %new_args are extra Mail::SpamAssassin->new arguments, except before_init,
# a sub called with the object before init() parses the config.
sub new_sa {
  my ($o, %args) = @_;
  my $before_init = delete $args{before_init};
  my $home = tempdir('sa-harness-XXXXXX', TMPDIR => 1, CLEANUP => 1);
  $ENV{HOME} = $home;

  # --cf files come after the stock and site rules, like `spamassassin --cf`;
  # the "file start/end" markers make lint messages name the file.
  my $post = join('', map { "file start $_\n" . slurp($_) . "\nfile end $_\n" }
                      @{$o->{cf}}) . $FIXED_CF;

  my $sa = Mail::SpamAssassin->new({
    rules_filename       => $o->{rules},
    site_rules_filename  => $o->{site},
    ignore_site_cf_files => $o->{no_site_cf} ? 1 : 0,
    userprefs_filename   => $o->{prefs},
    userstate_dir        => "$home/.spamassassin",
    home_dir_for_helpers => $home,
    local_tests_only     => 1,
    dont_copy_prefs      => 1,
    require_rules        => 1,
    post_config_text     => $post,
    debug                => $o->{debug},
    # Conf::Parser lint_warn: every config problem, error or not, to stderr
    lint_callback        => sub {
      my %a = @_;
      warn(($a{iserror} ? 'error' : 'warning') . ": $a{msg}\n");
    },
    # Debian's paths (see /usr/bin/spamassassin); a LOCAL_STATE_DIR without
    # compiled/ makes Rule2XSBody find no compiled ruleset.
    PREFIX           => '/usr',
    DEF_RULES_DIR    => '/usr/share/spamassassin',
    LOCAL_RULES_DIR  => '/etc/spamassassin',
    LOCAL_STATE_DIR  => $o->{no_compiled} ? $home : '/var/lib/spamassassin',
    %args,
  });
  $before_init->($sa) if $before_init;
  $sa->init(defined $o->{prefs} ? 1 : 0);
  # Conf::Parser counts bad lines in {errors} and skips them (lint_warn).
  my $errors = $sa->{conf}->{errors} || 0;
  die "SpamAssassin config: $errors error(s), see above\n"
    if $errors && !$o->{allow_errors};
  die "no rules loaded\n" unless $sa->{conf}->found_any_rules();
  my $set = $sa->{conf}->get_score_set();
  die "score set $set chosen, want 0\n" if $set != 0;
  return $sa;
}

1;
